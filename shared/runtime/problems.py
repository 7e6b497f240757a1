"""RFC 9457 problem details: every error any function answers has this shape."""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:orders:problem:"
log = logging.getLogger("orders.function")


def service_unavailable(slug: str, detail: str, retry_after_seconds: int) -> Response:
    """503 with `Retry-After`: the caller should come back, nothing was changed."""
    headers = {"Retry-After": str(retry_after_seconds)}
    return problem(503, slug, "Service Unavailable", detail, headers=headers)


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    errors: Iterable[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


class NotingStart:
    """A `send` that notes whether the response has started: once it has, no other answer can
    take its place."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self.send(message)


class ProblemOnError:
    """ASGI middleware, outermost: an exception nothing else caught still answers as a problem
    (uvicorn's own answer would be a text/plain 500), and is logged once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        noted = NotingStart(send)
        try:
            await self.app(scope, receive, noted)
        except Exception:
            if scope["type"] != "http" or noted.started:
                raise
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            detail = "an unexpected error"
            await problem(500, "internal-error", "Internal Server Error", detail)(
                scope, receive, send
            )
