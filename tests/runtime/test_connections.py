"""Connections cannot starve a served function: idle, slow and surplus ones are closed, and
requests beyond MAX_CONCURRENCY get a problem+json 503. confirm is served: its /healthz and a
bad event's 400 need neither the database nor the broker."""

import http.client
import json
import resource
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest

from tests.support import served_function

# Generous: a wait for the server to act, never a measure of how fast it does.
PATIENCE = 10.0
HELD_POST = (
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n{"
)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _allow_open_files(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= count:
        return
    if hard != resource.RLIM_INFINITY and hard < count:
        pytest.skip(f"this process may open at most {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


@contextmanager
def _idle_sockets(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that send nothing, opened one after another (accepted in order)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(socket.create_connection(("127.0.0.1", port)))
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the server closes `sock` (end of stream or reset) within `within` seconds;
    whatever it sends before closing is read and dropped."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def _dripped_until_closed(sock: socket.socket, data: bytes, within: float) -> bool:
    """Send `data` one byte every 0.3 s; True when the server closes the socket meanwhile."""
    deadline = time.monotonic() + within
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return True
        if _closed_by_server(sock, 0.3):
            return True
        if time.monotonic() > deadline:
            return False
    return False


def test_a_thousand_idle_sockets_do_not_block_a_new_client() -> None:
    _allow_open_files(1_400)
    # A header timeout far beyond the wait: only the connection handling can let the client in.
    with (
        served_function("confirm", {"HEADER_TIMEOUT_SECONDS": "60"}) as url,
        _idle_sockets(_port(url), 1_100),
    ):
        answer = httpx.get(f"{url}/healthz", timeout=PATIENCE)
    assert answer.status_code == 200


def test_a_socket_without_complete_headers_is_closed_after_the_header_timeout() -> None:
    env = {"HEADER_TIMEOUT_SECONDS": "1", "KEEP_ALIVE_SECONDS": "60"}
    headers_that_never_end = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with served_function("confirm", env) as url:
        port = _port(url)
        with _idle_sockets(port, 1) as (silent,):
            assert _closed_by_server(silent, PATIENCE)
        with _idle_sockets(port, 1) as (dripping,):
            assert _dripped_until_closed(dripping, headers_that_never_end, PATIENCE)
        # After a response the clock starts again, and a byte received does not stop it
        # (uvicorn's keep-alive timer, 60 s here, stops on any byte).
        after_a_response = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
        after_a_response.request("GET", "/healthz")
        assert after_a_response.getresponse().read()
        assert after_a_response.sock is not None
        assert _dripped_until_closed(after_a_response.sock, headers_that_never_end, PATIENCE)
        after_a_response.close()


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() -> None:
    env = {"HEADER_TIMEOUT_SECONDS": "60", "KEEP_ALIVE_SECONDS": "1"}
    with served_function("confirm", env) as url:
        connection = http.client.HTTPConnection("127.0.0.1", _port(url), timeout=PATIENCE)
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        assert answer.status == 200
        answer.read()
        assert connection.sock is not None
        assert _closed_by_server(connection.sock, PATIENCE)
        connection.close()


def _waiting_step() -> bytes:
    """A well-formed event for confirm, sent whole: the step then waits out its delay, a
    request at work for as long as the delay lasts."""
    order_id = str(uuid.uuid4())
    body = b'{"id": "%s"}' % order_id.encode()
    return (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"ce-specversion: 1.0\r\nce-id: %s\r\nce-source: /orders/orders_http\r\n"
        b"ce-type: orders.order.created\r\nce-subject: %s\r\nce-time: %s\r\n"
        b"Content-Length: %d\r\n\r\n%s"
    ) % (
        str(uuid.uuid4()).encode(),
        order_id.encode(),
        datetime.now(UTC).isoformat().encode(),
        len(body),
        body,
    )


def _bad_event(url: str) -> httpx.Response:
    return httpx.post(f"{url}/", content=b"{}", timeout=PATIENCE)


def test_requests_beyond_max_concurrency_get_a_problem_503_with_retry_after() -> None:
    env = {"MAX_CONCURRENCY": "2", "HEADER_TIMEOUT_SECONDS": "60", "CONFIRM_DELAY_SECONDS": "60"}
    with served_function("confirm", env) as url, _idle_sockets(_port(url), 2) as held:
        assert _bad_event(url).status_code == 400  # not a CloudEvent: answered at once
        for sock in held:  # two steps at work, each waiting out its delay
            sock.sendall(_waiting_step())
        deadline = time.monotonic() + PATIENCE
        while (answer := _bad_event(url)).status_code != 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"].isdigit()
        assert answer.json()["type"] == "urn:orders:problem:overloaded"
        assert httpx.get(f"{url}/healthz", timeout=PATIENCE).status_code == 200


def test_stalled_bodies_hold_no_place_among_the_requests_at_work() -> None:
    env = {"MAX_CONCURRENCY": "2", "HEADER_TIMEOUT_SECONDS": "60", "REQUEST_TIMEOUT_SECONDS": "60"}
    with served_function("confirm", env) as url, _idle_sockets(_port(url), 5) as stalled:
        for sock in stalled:  # headers complete, then a body that never comes
            sock.sendall(HELD_POST)
        time.sleep(0.5)
        assert _bad_event(url).status_code == 400


def test_past_max_connections_the_longest_idle_socket_makes_room() -> None:
    env = {"MAX_CONNECTIONS": "20", "HEADER_TIMEOUT_SECONDS": "60", "KEEP_ALIVE_SECONDS": "60"}
    with served_function("confirm", env) as url, _idle_sockets(_port(url), 20) as idle:
        answer = httpx.get(f"{url}/healthz", timeout=PATIENCE)
        assert answer.status_code == 200
        assert _closed_by_server(idle[0], PATIENCE)
        assert not any(_closed_by_server(sock, 0.05) for sock in idle[1:])


def test_past_max_connections_the_quietest_stalled_body_makes_room() -> None:
    env = {"MAX_CONNECTIONS": "20", "HEADER_TIMEOUT_SECONDS": "60", "REQUEST_TIMEOUT_SECONDS": "60"}
    with served_function("confirm", env) as url, _idle_sockets(_port(url), 20) as stalled:
        for sock in stalled:
            sock.sendall(HELD_POST)
            time.sleep(0.01)
        stalled[0].sendall(b" ")  # the first is still sending: the second is now the quietest
        time.sleep(0.2)
        assert _bad_event(url).status_code == 400
        assert _closed_by_server(stalled[1], PATIENCE)
        assert not _closed_by_server(stalled[0], 0.05)


def test_what_httptools_cannot_parse_is_refused_as_a_problem() -> None:
    with served_function("confirm", {}) as url:
        for request in (
            b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", _port(url))) as sock:
                sock.sendall(request)
                sock.settimeout(PATIENCE)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400"), answer
            assert b"content-type: application/problem+json" in head
            assert json.loads(body)["status"] == 400
