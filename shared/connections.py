"""Connections cannot starve the server: each must send its request headers in time, and past
the bound the connection idle the longest makes room for a new one.

uvicorn (0.54) has neither: nothing times out before a request's headers are in, its keep-alive
timer stops at the first byte received, and its `limit_concurrency` counts idle connections
with requests, so a thousand silent sockets got its 503 for every request. uvicorn takes a
protocol class for `http=`; this one is its httptools protocol with the two guards added.
"""

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("orders.connections")

# Files the process needs besides its connections: the listener, the database pool, the broker,
# log streams, modules still to import. The bound stays this far below the open-file limit.
RESERVED_FILES = 128


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_seconds: float
    max_connections: int


class OpenConnections:
    """Every open connection of one server; the idle ones (no request in progress) in the
    order they became idle, so the first is the one idle the longest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: set[GuardedProtocol] = set()
        self.idle: dict[GuardedProtocol, None] = {}  # a dict keeps insertion order

    def admit(self, connection: "GuardedProtocol") -> bool:
        """Make room by closing idle connections, oldest first; False when all are busy."""
        while len(self.open) >= self.limit and self.idle:
            oldest = next(iter(self.idle))
            # Forgotten at once: its transport reports the loss only on a later loop turn.
            self.forget(oldest)
            oldest.transport.close()
        if len(self.open) >= self.limit:
            return False
        self.open.add(connection)
        self.idle[connection] = None
        return True

    def busy(self, connection: "GuardedProtocol") -> None:
        self.idle.pop(connection, None)

    def idle_again(self, connection: "GuardedProtocol") -> None:
        if connection in self.open:
            self.idle.pop(connection, None)
            self.idle[connection] = None

    def forget(self, connection: "GuardedProtocol") -> None:
        self.open.discard(connection)
        self.idle.pop(connection, None)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus: headers complete within the header timeout of the
    connection opening or of its previous response ending, and admission under the bound."""

    limits: ClassVar[ConnectionLimits]
    registry: ClassVar[OpenConnections]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.registry.admit(self):
            # Every connection has a request in progress: nothing idle to give way.
            transport.close()
            return
        self._await_headers()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        self.registry.busy(self)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The newest request is answered and none is queued behind it: waiting for the next.
        if not self.transport.is_closing() and self.cycle.response_complete:
            self.registry.idle_again(self)
            self._await_headers()

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
