"""Limits of a served function: header size, request time, slow clients."""

import asyncio
import socket
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from tests.support import order_body, served_function


@pytest.fixture(scope="module")
def served(database_url: str, broker: str) -> Iterator[str]:
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "REQUEST_TIMEOUT_SECONDS": "1",
        "DB_POOL_MAX_SIZE": "4",
    }
    with served_function("orders_http", env) as url:
        yield url


def test_oversized_headers_are_refused_with_431(served: str) -> None:
    answer = httpx.get(f"{served}/?limit=1", headers={"X-Padding": "a" * 20_000})
    assert answer.status_code == 431
    assert answer.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{served}/?limit=1", headers={"X-Padding": "a" * 1000}).status_code == 200


def test_oversized_event_headers_are_a_bad_event(database_url: str, broker: str) -> None:
    env = {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": broker}
    with served_function("confirm", env) as url:
        answer = httpx.post(f"{url}/", content=b"{}", headers={"ce-padding": "a" * 20_000})
    assert answer.status_code == 400


async def test_a_request_that_takes_too_long_is_cut_short_with_503(
    served: str, database_url: str
) -> None:
    order = httpx.post(f"{served}/", json=order_body()).json()
    locker = await asyncpg.connect(database_url)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.get(f"{served}/{order['id']}")
    finally:
        await locker.close()
    assert answer.status_code == 503
    assert answer.json()["type"] == "urn:orders:problem:timeout"  # not the statement's own 10 s
    assert answer.headers["retry-after"].isdigit()
    # The statement was cancelled with the request: the pool is whole and answers again.
    assert httpx.get(f"{served}/{order['id']}").status_code == 200


def test_slow_clients_do_not_hold_the_database_or_the_server(served: str) -> None:
    port = int(served.rsplit(":", 1)[1])
    stalled = []
    for n in range(30):
        client = socket.create_connection(("127.0.0.1", port))
        if n % 2:  # headers that never end
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        else:  # a body announced but never sent, more of them than the pool has connections
            client.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{"
            )
        stalled.append(client)
    try:
        time.sleep(0.5)
        answer = httpx.post(f"{served}/", json=order_body(), timeout=10)
        assert answer.status_code == 201
        assert httpx.get(f"{served}/{answer.json()['id']}", timeout=10).status_code == 200
    finally:
        for client in stalled:
            client.close()


def test_an_event_whose_body_stalls_is_answered_503_in_time(database_url: str, broker: str) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker, "REQUEST_TIMEOUT_SECONDS": "1"}
    with served_function("confirm", env) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sender:
            sender.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{"
            )
            sender.settimeout(10)
            answer = b""
            while b"}" not in answer and (chunk := sender.recv(4096)):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 503")
    assert b"retry-after" in answer.lower()
    assert b"urn:orders:problem:timeout" in answer


def test_a_client_gone_mid_body_is_no_server_error(served: str) -> None:
    port = int(served.rsplit(":", 1)[1])
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
            time.sleep(0.2)
    time.sleep(0.5)
    metrics = httpx.get(f"{served}/metrics").text
    assert 'status="500"' not in metrics
    assert 'method="POST",route="/",status="499"' in metrics


def test_many_requests_at_once_are_all_answered(served: str) -> None:
    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post(f"{served}/", json=order_body()) for _ in range(100))
            )
        return [answer.status_code for answer in answers]

    assert set(asyncio.run(burst())) == {201}


async def test_a_pool_in_use_past_the_wait_answers_503_busy_not_unreachable(
    database_url: str, broker: str
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "1",
        "DB_CONNECT_TIMEOUT_SECONDS": "0.5",
    }
    with served_function("orders_http", env) as url:
        order = httpx.post(f"{url}/", json=order_body()).json()
        async with httpx.AsyncClient(timeout=30) as client:
            locker = await asyncpg.connect(database_url)
            try:
                async with locker.transaction():
                    await locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
                    holding = asyncio.create_task(client.get(f"{url}/{order['id']}"))
                    await asyncio.sleep(0.3)  # the first read holds the pool's one connection
                    waiting = await client.get(f"{url}/{order['id']}")
            finally:
                await locker.close()
            assert (await holding).status_code == 200
        assert waiting.status_code == 503
        assert waiting.json()["type"] == "urn:orders:problem:database-busy"
        assert waiting.headers["retry-after"].isdigit()
