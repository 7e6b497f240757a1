"""Health, readiness and metrics routes in front of any function, plus request metrics.

functions-framework routes every path of a CloudEvent function to the function itself, so
these GET routes are answered here, before the request reaches it.
"""

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics import metrics_response, observe_request
from shared.runtime.health import alive, ready
from shared.runtime.problems import problem
from shared.settings import get_settings
from shared.store.db import get_database

OPS_PATHS = ("/healthz", "/readyz", "/metrics")


class OpsRoutes:
    def __init__(self, app: ASGIApp, *, observe_requests: bool) -> None:
        self.app = app
        self.observe_requests = observe_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in OPS_PATHS and scope["method"] not in ("GET", "HEAD"):
            detail = f"{scope['method']} is not allowed here; use GET"
            refusal = problem(405, "method-not-allowed", "Method Not Allowed", detail)
            refusal.headers["Allow"] = "GET, HEAD"
            await refusal(scope, receive, send)
            return
        if path in OPS_PATHS:
            if path == "/healthz":
                response = alive()
            elif path == "/readyz":
                response = await ready(get_database(), get_settings().retry_after_seconds)
            else:
                response = metrics_response()
            if scope["method"] == "HEAD":
                # Headers as for GET, Content-Length included, and no body (RFC 9110 9.3.2).
                response.body = b""
            await response(scope, receive, send)
            return
        if not self.observe_requests:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer: dict[str, Any] = {"status": 500}

        async def send_and_note_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            # One label for every path: functions-framework routes them all to the function.
            observe_request("/", scope["method"], answer["status"], time.perf_counter() - started)
