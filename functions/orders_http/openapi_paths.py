"""The OpenAPI document's paths: the orders' operations and the fixed routes (health, metrics,
the documents and their pages), with bearer authentication's answers added where it applies
and HEAD wherever GET."""

import copy
from typing import Any

from functions.orders_http.openapi_answers import (
    _FORBIDDEN,
    _RETRY_AFTER,
    _UNAUTHENTICATED,
    _guarded,
    _json,
    _problem,
)
from functions.orders_http.openapi_orders import _order_item, _orders
from shared.runtime.auth import OPEN_PATHS


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


_OVERLOADED = "More than MAX_CONCURRENCY requests at once"


def _paths(max_page_size: int) -> dict[str, Any]:
    # The health and metrics routes are answered in front of the function: no 431, no deadline.
    return {
        "/": _orders(max_page_size),
        "/{order_id}": _order_item(),
        "/healthz": {
            "get": {
                "operationId": "alive",
                "responses": {"200": _json(_object(status={"const": "ok"}), "Alive")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "ready",
                "responses": {
                    "200": _json(
                        _object(status={"const": "ready"}, schema={"type": "string"}),
                        "The database answers and its schema is at or past the one this code needs",
                    ),
                    "503": _problem(
                        503,
                        "Not ready (the database, or its schema), or " + _OVERLOADED,
                        "not-ready",
                        "overloaded",
                        headers=_RETRY_AFTER,
                    ),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "responses": _guarded(
                    {"200": _json({"type": "object"}, "This document")}, database=False
                ),
            }
        },
        "/asyncapi.json": {
            "get": {
                "operationId": "asyncapi",
                "responses": _guarded(
                    {"200": _json({"type": "object"}, "The events' AsyncAPI 3.0 document")},
                    database=False,
                ),
            }
        },
        "/docs": {"get": _page("docs", "Swagger UI for this document")},
        "/docs/events": {"get": _page("eventDocs", "The events' contract, to read")},
        "/docs/static/{name}": {
            "get": {
                "operationId": "docsAsset",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": _guarded(
                    {
                        "200": {"description": "A script, style sheet or image of the page"},
                        "404": _problem(404, "No such asset", "not-found"),
                    },
                    database=False,
                ),
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "503": _problem(503, _OVERLOADED, "overloaded", headers=_RETRY_AFTER),
                },
            }
        },
    }


def _page(operation_id: str, description: str) -> dict[str, Any]:
    html = {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}
    return {"operationId": operation_id, "responses": _guarded({"200": html}, database=False)}


def _with_bearer_auth(paths: dict[str, Any]) -> dict[str, Any]:
    """401 on every operation but the health routes; 403 on each of them too: for a token
    that names no customer and lacks the service grant, for `/metrics` without the grant, and
    where a body or query names another customer than the token's."""
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            if path in OPEN_PATHS:
                operation["security"] = []
                continue
            operation["responses"]["401"] = _UNAUTHENTICATED
            operation["responses"]["403"] = _FORBIDDEN
    return paths


def _with_head(paths: dict[str, Any]) -> dict[str, Any]:
    """HEAD wherever GET: the GET's parameters, statuses and headers, and no body."""
    for operations in paths.values():
        if "get" not in operations:
            continue
        head = copy.deepcopy(operations["get"])
        head["operationId"] += "Head"
        for answer in head["responses"].values():
            answer.pop("content", None)
            answer.pop("links", None)
            answer["description"] += " (headers only)"
        operations["head"] = head
    return paths
