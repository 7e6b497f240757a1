"""Serve one function in one process: the function's ASGI app under uvicorn."""

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp

    from shared.runtime.function_guard import FunctionGuard, SignatureType

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
FUNCTIONS = ("orders_http", "confirm", "ship", "outbox_relay")


def function_source(target: str) -> Path:
    """The function's file: `FUNCTION_SOURCE` when set, else `functions/<target>/main.py`."""
    if target not in FUNCTIONS:
        raise SystemExit(f"unknown function {target!r}; choose one of {', '.join(FUNCTIONS)}")
    return Path(os.environ.get("FUNCTION_SOURCE") or FUNCTIONS_DIR / target / "main.py")


async def drain() -> None:
    """At shutdown: publish what is still in flight (the relay would, later), close the pool."""
    from shared.messaging.publisher import get_publisher
    from shared.store.db import get_database

    publisher = get_publisher()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(publisher.flush(), timeout=3)
    await publisher.close()
    await get_database().close()


def function_app(target: str) -> "ASGIApp":
    """The ASGI app around one function, behind the ops routes."""
    return _function_apps(target)[0]


def framework_app(target: str) -> "tuple[Starlette, SignatureType]":
    """functions-framework's ASGI app of `target`, its refusals answered as problem details,
    and the signature the function's decorator declared."""
    from functions_framework import _function_registry
    from functions_framework.aio import create_asgi_app
    from starlette.exceptions import HTTPException

    from shared.runtime.function_guard import http_exception_answer

    app = create_asgi_app(target, str(function_source(target)))  # type: ignore[no-untyped-call]
    # Where the framework itself keeps what the decorator declared (`functions_framework.aio`
    # reads it there too).
    signature = _function_registry.REGISTRY_MAP.get(target)
    if signature not in ("http", "cloudevent"):
        raise SystemExit(f"{target} is not marked @functions_framework.aio.http or .cloud_event")
    app.add_exception_handler(HTTPException, http_exception_answer(signature))
    return app, signature


def _function_apps(target: str) -> "tuple[ASGIApp, FunctionGuard]":
    """The ASGI app around one function, and the guard of the framework's app within it."""
    from shared.runtime.function_guard import FunctionGuard, Limits
    from shared.runtime.in_flight import InFlightLimit
    from shared.runtime.ops import OpsRoutes
    from shared.runtime.problems import ProblemOnError
    from shared.settings import get_settings

    settings = get_settings()
    framework, signature = framework_app(target)
    inner = FunctionGuard(
        framework, signature, limits=Limits.from_settings(settings), on_shutdown=drain
    )
    app: ASGIApp = inner
    # The HTTP function records its requests itself, by route template rather than raw path;
    # it is the public one. CloudEvent functions are cluster-local; with EVENT_AUTH_* set they
    # also take only their sources' tokens (inside the ops routes: health and metrics stay open,
    # and refused events are counted).
    public = signature == "http"
    if not public and settings.event_auth_enabled:
        from shared.runtime.event_auth import RequireSender, SenderCheck

        app = RequireSender(app, SenderCheck(settings), settings.retry_after_seconds)
    served: ASGIApp = OpsRoutes(app, observe_requests=not public)
    if public and settings.auth_enabled:
        from shared.runtime.auth import RequireToken
        from shared.runtime.tokens import Authenticator

        served = RequireToken(served, Authenticator(settings))
    # Outermost: a request refused for overload costs no token check and no function code.
    limited = InFlightLimit(served, settings.max_concurrency, settings.retry_after_seconds)
    return ProblemOnError(limited), inner


class _Server(uvicorn.Server):
    """uvicorn, which at a stop first abandons the CloudEvents in flight: an event waiting out a
    step's delay would otherwise hold the stop for the whole graceful timeout, then be cancelled
    with an ERROR and a traceback. HTTP requests still get the graceful timeout to finish."""

    def __init__(self, config: uvicorn.Config, app: "FunctionGuard") -> None:
        super().__init__(config)
        self._function_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._function_app.abandon_events()
        await super().shutdown(sockets)


def serve(target: str | None = None, host: str | None = None, port: int | None = None) -> None:
    """Serve `target` (default: `FUNCTION_TARGET`) until SIGTERM."""
    from shared.runtime.connections import ConnectionLimits, connection_bound, guarded_protocol
    from shared.settings import get_settings

    target = target or os.environ.get("FUNCTION_TARGET", "")
    settings = get_settings()
    bound = connection_bound(settings.max_connections)
    connections = ConnectionLimits(settings.header_timeout_seconds, bound)
    app, inner = _function_apps(target)
    config = uvicorn.Config(
        app,
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile,
        host=host or settings.host,
        port=port or settings.port,
        access_log=False,
        proxy_headers=False,
        # No WebSockets here: naming the protocols spares their imports at every cold start.
        ws="none",
        # httptools with a header timeout and a bound on connections
        # (shared/runtime/connections.py).
        http=guarded_protocol(connections),
        loop="uvloop",
        lifespan="on",
        log_config=None,
        timeout_graceful_shutdown=5,
        # Off: it counts idle connections with requests; InFlightLimit counts requests alone.
        limit_concurrency=None,
        timeout_keep_alive=settings.keep_alive_seconds,
    )
    server = _Server(config, inner)
    server.run()
    if not server.started:  # as uvicorn.run: the port was taken, for instance
        raise SystemExit(3)
