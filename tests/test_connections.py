"""Requests beyond MAX_CONCURRENCY get a problem+json 503. confirm is served: its /healthz and
a bad event's 400 need neither the database nor the broker."""

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support import served_function

# Generous: a wait for the server to act, never a measure of how fast it does.
PATIENCE = 10.0
HELD_POST = (
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n{"
)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


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


def test_requests_beyond_max_concurrency_get_a_problem_503_with_retry_after() -> None:
    def bad_event(url: str) -> httpx.Response:
        return httpx.post(f"{url}/", content=b"{}", timeout=PATIENCE)

    env = {"MAX_CONCURRENCY": "2"}
    with served_function("confirm", env) as url, _idle_sockets(_port(url), 2) as held:
        assert bad_event(url).status_code == 400  # not a CloudEvent: answered at once
        for sock in held:  # two requests in flight, each waiting for the rest of its body
            sock.sendall(HELD_POST)
        deadline = time.monotonic() + PATIENCE
        while (answer := bad_event(url)).status_code != 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"].isdigit()
        assert answer.json()["type"] == "urn:orders:problem:overloaded"
        assert httpx.get(f"{url}/healthz", timeout=PATIENCE).status_code == 200
        for sock in held:
            sock.close()
        while (answer := bad_event(url)).status_code != 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answer.status_code == 400  # the held requests gave their places back
