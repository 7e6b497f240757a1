"""Connections cannot starve the server: each must send its request headers in time, and past
the bound the connection that has waited longest on its client makes room for a new one.

uvicorn (0.54) has neither: nothing times out before a request's headers are in, its keep-alive
timer stops at the first byte received, and its `limit_concurrency` counts idle connections
with requests, so a thousand silent sockets got its 503 for every request. uvicorn takes a
protocol class for `http=`; this one is its httptools protocol with the two guards added.
"""

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.runtime.problems import problem

log = logging.getLogger("orders.connections")

# Files the process needs besides its connections: the listener, the database pool, the broker,
# log streams, modules still to import. The bound stays this far below the open-file limit.
RESERVED_FILES = 128


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_seconds: float
    max_connections: int


class OpenConnections:
    """Every open connection of one server. At the bound, the connection that has waited the
    longest on its client gives way: one between requests, or one whose headers or body stall.
    A connection whose request is at work is never closed for a newcomer."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: set[GuardedProtocol] = set()

    def admit(self, connection: "GuardedProtocol") -> bool:
        """Make room by closing the quietest connections waiting on their clients; False when
        every connection has a request at work."""
        while len(self.open) >= self.limit:
            waiting = [other for other in self.open if other.waits_on_client()]
            if not waiting:
                return False
            quietest = min(waiting, key=lambda other: other.last_received)
            # Forgotten at once: its transport reports the loss only on a later loop turn.
            self.forget(quietest)
            quietest.transport.close()
        self.open.add(connection)
        return True

    def forget(self, connection: "GuardedProtocol") -> None:
        self.open.discard(connection)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus: headers complete within the header timeout of the
    connection opening or of its previous response ending, and admission under the bound."""

    limits: ClassVar[ConnectionLimits]
    registry: ClassVar[OpenConnections]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timer: asyncio.TimerHandle | None = None
        self.last_received = time.monotonic()

    def waits_on_client(self) -> bool:
        """Nothing to do until the client sends more: between requests, in the middle of the
        headers, or in the middle of a body nobody has answered yet."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return True
        return cycle.more_body and not cycle.response_started

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        super().data_received(data)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.registry.admit(self):
            # Every connection has a request at work: none may give way.
            transport.close()
            return
        self._await_headers()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The newest request is answered and none is queued behind it: waiting for the next.
        if not self.transport.is_closing() and self.cycle.response_complete:
            self._await_headers()

    def send_400_response(self, msg: str) -> None:
        """What httptools cannot parse (an unknown method, a bad Content-Length, chunked with a
        length) is refused as every error is, a problem, rather than uvicorn's text/plain."""
        refusal = problem(
            400, "bad-request", "Bad Request", f"not an HTTP/1.1 request this server takes: {msg}"
        )
        headers = b"".join(name + b": " + value + b"\r\n" for name, value in refusal.raw_headers)
        head = b"HTTP/1.1 400 Bad Request\r\n" + headers + b"connection: close\r\n\r\n"
        self.transport.write(head + bytes(refusal.body))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        self.registry.forget(self)
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        # Unlike uvicorn's keep-alive timer, bytes received do not stop this one: a client
        # dripping header bytes is closed as surely as a silent one.
        self._stop_header_timer()
        self.header_timer = self.loop.call_later(
            self.limits.header_timeout_seconds, self._headers_too_slow
        )

    def _stop_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedProtocol]:
    """The class for uvicorn's `http=`. uvicorn builds one protocol per connection from its own
    arguments only, so the limits and the server's one registry travel as class attributes."""

    class Guarded(GuardedProtocol):
        pass

    Guarded.limits = limits
    Guarded.registry = OpenConnections(limits.max_connections)
    return Guarded


def connection_bound(wanted: int) -> int:
    """`wanted`, lowered to fit the open-file limit after raising that limit as far as allowed.

    The soft limit is often 1024 where the hard one is far higher: raising it lets the bound,
    not the kernel's EMFILE, decide, since accept() failing leaves new clients in the backlog.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, hard)
    if soft == resource.RLIM_INFINITY:
        return wanted
    bound = max(1, min(wanted, soft - RESERVED_FILES))
    if bound < wanted:
        log.warning("MAX_CONNECTIONS lowered to %d: the process may open %d files", bound, soft)
    return bound
