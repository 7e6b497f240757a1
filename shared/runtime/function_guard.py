"""What a service needs around a functions-framework app, and the framework leaves to its host.

`functions_framework.aio` makes a Starlette app of a function: it routes every path to it,
reads CloudEvents with the SDK and answers 200 when the function returns. Around that app this
bounds the header bytes, gives each HTTP request a deadline, reads an event's body once (bounded
in size and time) before the framework sees it, answers 400 to every request that is not an
event the function may take (KafkaSource dead-letters a 400 and retries the rest), and at
shutdown answers the events still in their handlers at once. Its lifespan ends with the drain.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal

import orjson
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.deadlines import DeadlineExceeded, Deadlines
from shared.runtime.problems import NotingStart, problem, service_unavailable
from shared.runtime.request_body import read_body
from shared.runtime.startup import done as start_up_done
from shared.settings import Settings

SignatureType = Literal["http", "cloudevent"]
STRUCTURED = "application/cloudevents+json"

log = logging.getLogger("orders.function")


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


def bad_event(detail: str) -> Response:
    """400: KafkaSource sends the event straight to the dead-letter sink."""
    return problem(400, "bad-event", "Bad Request", detail)


def http_exception_answer(
    signature: SignatureType,
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The framework app's handler of `HTTPException`: the function's refusals, and the
    framework's own (an event the SDK cannot read), as problem details."""

    async def answer(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):  # registered for HTTPException alone
            raise exc
        status, detail = exc.status_code, str(exc.detail)
        if signature == "cloudevent" and status == 400:
            return bad_event(detail)
        if status == 503:
            return problem(503, "retry-later", "Service Unavailable", detail, headers=exc.headers)
        phrase = HTTPStatus(status).phrase
        slug = phrase.lower().replace(" ", "-")
        return problem(status, slug, phrase, detail, headers=exc.headers)

    return answer


def _missing_id(headers: Headers, body: bytes) -> bool:
    """The SDK makes up an `id` for an event without one; CloudEvents requires it."""
    if headers.get("content-type", "").partition(";")[0].strip().lower() != STRUCTURED:
        return "ce-specversion" in headers and not headers.get("ce-id")
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False  # not JSON: the SDK refuses it and says why
    return isinstance(envelope, dict) and not envelope.get("id")


class FunctionGuard:
    def __init__(
        self,
        app: ASGIApp,
        signature: SignatureType,
        *,
        limits: Limits,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.signature = signature
        self.limits = limits
        self.on_shutdown = on_shutdown
        self.deadlines = Deadlines(limits.request_timeout_seconds)
        # The handlers of CloudEvents in flight: at shutdown they are abandoned, not awaited.
        self._events: set[asyncio.Task[object]] = set()
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
        if sum(len(name) + len(value) for name, value in scope["headers"]) > (
            self.limits.max_header_bytes
        ):
            detail = f"the request headers exceed {self.limits.max_header_bytes} bytes"
            if self.signature == "cloudevent":  # an event function answers 2xx or 400
                response = bad_event(detail)
            else:
                response = problem(
                    431, "headers-too-large", "Request Header Fields Too Large", detail
                )
            await response(scope, receive, send)
        elif self.signature == "http":
            await self._http(scope, receive, send)
        else:
            await self._cloud_event(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        noted = NotingStart(send)
        try:
            await self.deadlines.run(self.app(scope, receive, noted))
        except DeadlineExceeded:
            if noted.started:
                raise
            detail = f"no answer within {self.limits.request_timeout_seconds} s; retry later"
            timeout = service_unavailable("timeout", detail, self.limits.retry_after_seconds)
            await timeout(scope, receive, send)

    async def _cloud_event(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._event_body(scope, receive, send)
        if body is None:
            return
        task = asyncio.current_task()
        if task is not None:  # always: an ASGI server runs each request in a task
            self._events.add(task)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            await self.app(scope, replay, send)
        except asyncio.CancelledError:
            if not self._stopping or task is None:
                raise
            task.uncancel()
            event_id = Headers(scope=scope).get("ce-id")
            log.info(
                "event %s abandoned at shutdown; its source delivers it again",
                event_id,
                extra={"event_id": event_id},
            )
            await self._shutting_down()(scope, receive, send)
        finally:
            if task is not None:
                self._events.discard(task)

    async def _event_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The event's body, or None once the request has been answered otherwise."""
        refusal: Response | None = None
        request = Request(scope, receive)
        if scope["method"] != "POST":
            refusal = bad_event(f"an event is POSTed, not sent with {scope['method']}")
        elif self._stopping:
            refusal = self._shutting_down()
        if refusal is None:
            try:
                # Under the request deadline: a sender that stalls its body would otherwise
                # hold a place among the requests in flight for as long as it likes.
                body = await self.deadlines.run(read_body(request, self.limits.max_event_bytes))
            except ClientDisconnect:
                refusal = Response(status_code=400)  # nobody reads it: the sender has gone
            except DeadlineExceeded:
                seconds = self.limits.request_timeout_seconds
                detail = f"the event's body did not arrive within {seconds} s"
                refusal = service_unavailable("timeout", detail, self.limits.retry_after_seconds)
            else:
                if body is None:
                    limit = self.limits.max_event_bytes
                    refusal = bad_event(f"an event may carry at most {limit} bytes")
                elif _missing_id(request.headers, body):
                    refusal = bad_event("not a CloudEvent: it has no id attribute")
                else:
                    return body
        await refusal(scope, receive, send)
        return None

    def _shutting_down(self) -> Response:
        detail = "this instance is shutting down; retry later"
        return service_unavailable("shutting-down", detail, self.limits.retry_after_seconds)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                start_up_done()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
