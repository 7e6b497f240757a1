"""Routing, error mapping and metrics for the HTTP function."""

import logging
import time
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Route

from functions.orders_http import handlers
from functions.orders_http.asyncapi import asyncapi_response
from functions.orders_http.docs import HEADERS as DOCS_HEADERS
from functions.orders_http.docs import docs_asset, docs_page
from functions.orders_http.event_docs import event_docs_html
from functions.orders_http.http_input import BadRequest, quoted
from functions.orders_http.openapi import openapi_response
from shared.domain.orders import (
    IdempotencyKeyReused,
    OrderError,
    OrderNotEditable,
    OrderNotFound,
    VersionMismatch,
)
from shared.metrics import observe_request
from shared.runtime.problems import problem, service_unavailable
from shared.settings import Settings, get_settings
from shared.store.db import Database, DatabaseBusy, DatabaseUnavailable, get_database

Handler = Callable[[Request, Database, Settings], Awaitable[Response]]

log = logging.getLogger("orders.http")


async def _openapi(request: Request, db: Database, settings: Settings) -> Response:
    return openapi_response(settings.auth_enabled, settings.max_page_size)


async def _docs(request: Request, db: Database, settings: Settings) -> Response:
    return docs_page()


async def _event_docs(request: Request, db: Database, settings: Settings) -> Response:
    return HTMLResponse(event_docs_html(), headers=DOCS_HEADERS)


async def _docs_asset(request: Request, db: Database, settings: Settings) -> Response:
    asset = docs_asset(request)
    if asset is None:
        return problem(404, "not-found", "Not Found", f"no asset {quoted(request.url.path)}")
    return asset


async def _asyncapi(request: Request, db: Database, settings: Settings) -> Response:
    return asyncapi_response()


# HEAD wherever GET (RFC 9110 9.3.2): the GET's handler answers it, and dispatch drops the body.
FIXED_ROUTES: dict[str, dict[str, Handler]] = {
    "/": {"GET": handlers.list_orders, "HEAD": handlers.list_orders, "POST": handlers.create_order},
    "/openapi.json": {"GET": _openapi, "HEAD": _openapi},
    "/docs": {"GET": _docs, "HEAD": _docs},
    "/docs/events": {"GET": _event_docs, "HEAD": _event_docs},
    "/docs/static/{name}": {"GET": _docs_asset, "HEAD": _docs_asset},
    "/asyncapi.json": {"GET": _asyncapi, "HEAD": _asyncapi},
}
ORDER_ROUTE = "/{order_id}"
ORDER_METHODS: dict[str, Handler] = {
    "GET": handlers.read_order,
    "HEAD": handlers.read_order,
    "PUT": handlers.replace_order,
    "DELETE": handlers.delete_order,
}

_ORDER_ERRORS: dict[type[OrderError], tuple[int, str, str]] = {
    OrderNotFound: (404, "not-found", "Not Found"),
    OrderNotEditable: (409, "not-editable", "Conflict"),
    VersionMismatch: (412, "version-mismatch", "Precondition Failed"),
    IdempotencyKeyReused: (422, "idempotency-key-reused", "Unprocessable Content"),
}
# Each a 503: (slug, detail).
_DATABASE_ERRORS: dict[type[DatabaseUnavailable], tuple[str, str]] = {
    DatabaseUnavailable: ("database-unavailable", "the database cannot be reached; retry later"),
    DatabaseBusy: ("database-busy", "every database connection stayed in use; retry shortly"),
}


async def _unrouted(request: Request) -> Response:  # dispatch calls the method's handler
    raise NotImplementedError


# Starlette's routes match the path; the method picks the handler (a PARTIAL match is the path
# alone, the method being none of the route's own).
_ROUTES = [
    *((Route(template, _unrouted), methods) for template, methods in FIXED_ROUTES.items()),
    (Route(ORDER_ROUTE, _unrouted), ORDER_METHODS),
]


def _resolve(request: Request) -> tuple[str, dict[str, Handler]]:
    for route, methods in _ROUTES:
        match, child_scope = route.matches(request.scope)
        if match is not Match.NONE:
            request.scope["path_params"] = child_scope["path_params"]
            return route.path, methods
    return "unmatched", {}


async def _answer(request: Request, methods: dict[str, Handler]) -> Response:
    settings = get_settings()
    if not methods:
        return problem(404, "not-found", "Not Found", f"no route {quoted(request.url.path)}")
    handler = methods.get(request.method)
    if handler is None:
        allowed = ", ".join(methods)
        return problem(
            405,
            "method-not-allowed",
            "Method Not Allowed",
            f"{quoted(request.method)} is not allowed here; use {allowed}",
            headers={"Allow": allowed},
        )
    try:
        return await handler(request, get_database(), settings)
    except ClientDisconnect:
        # Gone before its body arrived: nothing to answer and nothing wrong here (nginx's 499).
        return Response(status_code=499)
    except BadRequest as exc:
        return exc.response
    except OrderError as exc:
        status, slug, title = _ORDER_ERRORS[type(exc)]
        return problem(status, slug, title, str(exc))
    except DatabaseUnavailable as exc:
        log.warning("%s: %s", exc.reason, exc)
        slug, detail = _DATABASE_ERRORS[type(exc)]
        return service_unavailable(slug, detail, settings.retry_after_seconds)


async def dispatch(request: Request) -> Response:
    started = time.perf_counter()
    route, methods = _resolve(request)
    try:
        response = await _answer(request, methods)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, route)
        response = problem(500, "internal-error", "Internal Server Error", "an unexpected error")
    observe_request(route, request.method, response.status_code, time.perf_counter() - started)
    if request.method == "HEAD":
        # The GET's status and headers, Content-Length included, without its body.
        response.body = b""
    return response
