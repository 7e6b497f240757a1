"""The ASGI app around one function, with functions-framework's two signatures.

An HTTP function takes a Starlette `Request` and returns a `Response`; a CloudEvent function
takes a `CloudEvent` (`shared/cloudevent.py`) and returns nothing, raising `HTTPException` to
answer otherwise. The functions-framework package serves the same signatures, but it imports
Flask and wraps each request in five middlewares: that cost 0.55 s of every cold start and a
third of the CPU of a GET.
"""

import asyncio
import gc
import importlib.util
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shared.cloudevent import CloudEvent, NotACloudEvent, from_request
from shared.deadlines import DeadlineExceeded, Deadlines
from shared.problems import problem, service_unavailable
from shared.settings import Settings

SignatureType = Literal["http", "cloudevent"]
HttpFunction = Callable[[Request], Awaitable[Response]]
CloudEventFunction = Callable[[CloudEvent], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("orders.function")


def _signed(signature: SignatureType) -> Callable[[F], F]:
    def mark(function: F) -> F:
        function.__signature_type__ = signature  # type: ignore[attr-defined]
        return function

    return mark


http = _signed("http")
cloud_event = _signed("cloudevent")


def load_function(source: Path, target: str) -> tuple[Callable[..., Any], SignatureType]:
    """`target` from the file `source`, and the signature its decorator declared."""
    spec = importlib.util.spec_from_file_location(f"functions.{target}.main", source)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {source}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function = getattr(module, target, None)
    signature = getattr(function, "__signature_type__", None)
    if function is None or signature not in ("http", "cloudevent"):
        raise SystemExit(f"{source} has no function {target!r} marked @http or @cloud_event")
    return function, signature


async def read_body(request: Request, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    # More digits than the limit has is more bytes than it allows; int() of thousands raises.
    if (
        declared.isascii()
        and declared.isdigit()
        and (len(declared.lstrip("0")) > len(str(limit)) or int(declared) > limit)
    ):
        return None
    # The ASGI messages themselves: Request.stream() is an async generator, 4 µs a request.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@dataclass(frozen=True)
class Limits:
    max_event_bytes: int
    max_header_bytes: int
    request_timeout_seconds: float
    retry_after_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(
            settings.max_event_bytes,
            settings.max_header_bytes,
            settings.request_timeout_seconds,
            settings.retry_after_seconds,
        )


def _header_bytes(scope: Scope) -> int:
    return sum(len(name) + len(value) for name, value in scope["headers"])


def _bad_event(detail: str) -> Response:
    """400: KafkaSource sends the event straight to the dead-letter sink."""
    return problem(400, "bad-event", "Bad Request", detail)


def _headers_too_large(signature: SignatureType, limit: int) -> Response:
    detail = f"the request headers exceed {limit} bytes"
    if signature == "cloudevent":  # a CloudEvent function answers 2xx or 400, nothing else
        return _bad_event(detail)
    return problem(431, "headers-too-large", "Request Header Fields Too Large", detail)


def _http_error(exc: HTTPException) -> Response:
    if exc.status_code == 400:
        return _bad_event(str(exc.detail))
    return problem(
        exc.status_code, "retry-later", "Service Unavailable", str(exc.detail), headers=exc.headers
    )


class FunctionApp:
    """Serves one function; the lifespan's end flushes what the function left in flight."""

    def __init__(
        self,
        function: Callable[..., Any],
        signature: SignatureType,
        *,
        limits: Limits,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.function = function
        self.signature = signature
        self.limits = limits
        self.on_shutdown = on_shutdown
        self.deadlines = Deadlines(limits.request_timeout_seconds)
        # The handlers of CloudEvents in flight: at shutdown they are abandoned, not awaited.
        self._events: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def abandon_events(self) -> int:
        """At shutdown: end every CloudEvent still in its handler (most wait out a step's delay)
        with a 503, at once. Nothing is lost: the source has not committed an event it has no
        answer for and delivers it again, and a move already committed is announced by the
        relay if this process cannot. Returns how many were abandoned."""
        self._stopping = True
        for task in self._events:
            task.cancel()
        return len(self._events)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        request = Request(scope, receive)
        if _header_bytes(scope) > self.limits.max_header_bytes:
            response = _headers_too_large(self.signature, self.limits.max_header_bytes)
        elif self.signature == "http":
            response = await self._http(request)
        else:
            response = await self._cloud_event(request)
        await response(scope, receive, send)

    async def _http(self, request: Request) -> Response:
        try:
            response: Response = await self.deadlines.run(self.function(request))
        except DeadlineExceeded:
            detail = f"no answer within {self.limits.request_timeout_seconds} s; retry later"
            return service_unavailable("timeout", detail, self.limits.retry_after_seconds)
        return response

    async def _cloud_event(self, request: Request) -> Response:
        try:
            # Under the request deadline: a sender that stalls its body would otherwise hold a
            # place among the requests in flight for as long as it likes.
            body = await self.deadlines.run(read_body(request, self.limits.max_event_bytes))
        except ClientDisconnect:
            return Response(status_code=400)
        except DeadlineExceeded:
            detail = (
                f"the event's body did not arrive within {self.limits.request_timeout_seconds} s"
            )
            return service_unavailable("timeout", detail, self.limits.retry_after_seconds)
        if body is None:
            return _bad_event(f"an event may carry at most {self.limits.max_event_bytes} bytes")
        try:
            event = from_request(request.headers, body)
        except NotACloudEvent as exc:
            return _bad_event(f"not a CloudEvent: {exc}")
        if self._stopping:
            return self._shutting_down()
        task = asyncio.current_task()
        if task is not None:  # always, under an event loop's task
            self._events.add(task)
        try:
            await self.function(event)
        except HTTPException as exc:
            return _http_error(exc)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            task.uncancel()
            log.info(
                "event %s abandoned at shutdown; its source delivers it again",
                event.get("id"),
                extra={"event_id": event.get("id"), "event_type": event.get("type")},
            )
            return self._shutting_down()
        except Exception:
            log.exception("unhandled error in %s", getattr(self.function, "__name__", "function"))
            return problem(500, "internal-error", "Internal Server Error", "an unexpected error")
        finally:
            self._events.discard(task)
        return Response(status_code=204)

    def _shutting_down(self) -> Response:
        detail = "this instance is shutting down; retry later"
        return service_unavailable("shutting-down", detail, self.limits.retry_after_seconds)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # What start-up created lives as long as the process: out of the collector's
                # sight, a full collection under load pauses for milliseconds, not 70-180.
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
