"""At most MAX_CONCURRENCY requests at work at once (not counting those waiting for their
client's bytes); the next is told to come back.

Counted here rather than by uvicorn, whose `limit_concurrency` also counts idle connections and
answers a text/plain 503 without `Retry-After`: every answer of ours is a problem (RFC 9457).
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.runtime.problems import service_unavailable

# A busy process is still alive: failing its liveness probe would restart it, and lose every
# request in flight. The probe is answered without the database, so it costs next to nothing.
UNCOUNTED_PATHS = ("/healthz",)


class InFlightLimit:
    """ASGI middleware: a 503 with `Retry-After` for a request beyond `limit` in flight."""

    def __init__(self, app: ASGIApp, limit: int, retry_after_seconds: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        detail = f"more than {limit} requests at once here; retry later"
        # Built once: under overload the refusal should be the cheapest answer there is.
        self.refusal = service_unavailable("overloaded", detail, retry_after_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNCOUNTED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await self.refusal(scope, receive, send)
            return
        # One event loop runs every request: the count needs no lock.
        self.in_flight += 1

        async def receive_uncounted() -> Message:
            # A request waiting for its client's bytes holds no place: a thousand stalled
            # bodies would otherwise lock everyone out (the connection bound handles those).
            self.in_flight -= 1
            try:
                return await receive()
            finally:
                self.in_flight += 1

        try:
            await self.app(scope, receive_uncounted, send)
        finally:
            self.in_flight -= 1
