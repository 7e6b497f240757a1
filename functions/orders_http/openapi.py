"""The OpenAPI 3.1 document, generated from the models the code validates and answers with."""

import copy
from functools import cache
from typing import Any

import orjson
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from functions.orders_http.http_input import (
    CURSOR_PATTERN,
    ENTITY_TAGS,
    MAX_IDEMPOTENCY_KEY_LENGTH,
)
from shared.auth import OPEN_PATHS
from shared.ops import OPS_PATHS
from shared.schemas import (
    IDENTIFIER_PATTERN,
    MAX_IDENTIFIER_LENGTH,
    OrderIn,
    OrderOut,
    OrderPage,
    Problem,
)

_REF = "#/components/schemas/{model}"
_PROBLEM = "application/problem+json"


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {_PROBLEM: {"schema": {"$ref": _REF.format(model="Problem")}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _json(model: str, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


_STRING = {"schema": {"type": "string"}}
_ETAG = {"ETag": {"description": "The order's version as an entity tag", **_STRING}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", **_STRING}}
_UNAVAILABLE = {
    "503": _problem("The database cannot be reached or is busy, or no answer in time", _RETRY_AFTER)
}
_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": _REF.format(model="OrderIn")}}},
}
_BAD_BODY = {
    "400": _problem("Malformed JSON or a bad header"),
    "413": _problem("Body too large"),
    "415": _problem("Body is not JSON"),
    "422": _problem("Body fails validation; `errors` lists each field"),
}
_ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'Compared strongly (RFC 9110 13.1.1): a weak tag W/"3" matches no version',
    "schema": {"type": "string", "pattern": f"^{ENTITY_TAGS.pattern}$"},
}
_NOT_FOUND = {"404": _problem("No such order")}
_STALE = {"412": _problem("If-Match names another version")}


def _links(order_id: str) -> dict[str, Any]:
    """Where an answer carrying an order leads: read, replace or delete that very order."""
    with_version = {"order_id": order_id, "If-Match": "$response.header.ETag"}
    return {
        "ReadOrder": {"operationId": "readOrder", "parameters": {"order_id": order_id}},
        "ReplaceOrder": {"operationId": "replaceOrder", "parameters": with_version},
        "DeleteOrder": {"operationId": "deleteOrder", "parameters": with_version},
    }


_ORDER_LINKS = _links("$response.body#/id")


def _order(description: str, **extra_headers: Any) -> dict[str, Any]:
    return {**_json("OrderOut", description, {**extra_headers, **_ETAG}), "links": _ORDER_LINKS}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _paths() -> dict[str, Any]:
    health = {"200": {"description": "OK", "content": {"application/json": {"schema": {}}}}}
    return {
        "/": {
            "get": {
                "operationId": "listOrders",
                "parameters": [
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                    _query("cursor", {"type": "string", "pattern": f"^{CURSOR_PATTERN}$"}),
                    _query(
                        "status", {"type": "string", "enum": ["CREATED", "CONFIRMED", "SHIPPED"]}
                    ),
                    _query(
                        "customer_id",
                        {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_IDENTIFIER_LENGTH,
                            "pattern": IDENTIFIER_PATTERN,
                        },
                    ),
                ],
                "responses": {
                    "200": _json("OrderPage", "A page of orders, oldest first"),
                    "400": _problem("Bad query parameter"),
                    **_UNAVAILABLE,
                },
            },
            "post": {
                "operationId": "createOrder",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
                            "pattern": "^[ -~]+$",
                        },
                    }
                ],
                "requestBody": _BODY,
                "responses": {
                    "201": _order(
                        "Created (or the first answer to this Idempotency-Key)",
                        Location={"description": "The order's URL", **_STRING},
                    ),
                    **_BAD_BODY,
                    "422": _problem("Body fails validation, or the key was used with another body"),
                    **_UNAVAILABLE,
                },
            },
        },
        "/{order_id}": {
            "parameters": [_ORDER_ID],
            "get": {
                "operationId": "readOrder",
                "responses": {
                    "200": _order("The order"),
                    **_NOT_FOUND,
                    **_UNAVAILABLE,
                },
            },
            "put": {
                "operationId": "replaceOrder",
                "parameters": [_IF_MATCH],
                "requestBody": _BODY,
                "responses": {
                    "200": _order("The order after the change"),
                    **_BAD_BODY,
                    **_NOT_FOUND,
                    "409": _problem("The order is past CREATED"),
                    **_STALE,
                    **_UNAVAILABLE,
                },
            },
            "delete": {
                "operationId": "deleteOrder",
                "parameters": [_IF_MATCH],
                "responses": {
                    "204": {"description": "Deleted"},
                    "400": _problem("A malformed If-Match"),
                    **_NOT_FOUND,
                    **_STALE,
                    **_UNAVAILABLE,
                },
            },
        },
        "/healthz": {"get": {"operationId": "alive", "responses": health}},
        "/readyz": {
            "get": {"operationId": "ready", "responses": {**health, "503": _problem("Not ready")}}
        },
        "/openapi.json": {"get": {"operationId": "openapi", "responses": health}},
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


_FORBIDDEN = _problem(
    "The token grants no access here: it names no customer and lacks the service grant, the"
    " route needs that grant, or the request names another customer than the token's"
)


def _with_limits(paths: dict[str, Any]) -> dict[str, Any]:
    """The limits every request to the function meets: header size (431) and time to answer
    (503). The health and metrics routes are answered before them."""
    for path, operations in paths.items():
        if path in OPS_PATHS:
            continue
        for method, operation in operations.items():
            if method != "parameters":
                operation["responses"]["431"] = _problem("Request headers too large")
                operation["responses"].setdefault("503", _UNAVAILABLE["503"])
    return paths


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
            operation["responses"]["401"] = _problem("No valid bearer token")
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


@cache
def openapi_document(bearer_auth: bool = False) -> bytes:
    _, schemas = models_json_schema(
        [
            (OrderIn, "validation"),
            (OrderOut, "serialization"),
            (OrderPage, "serialization"),
            (Problem, "serialization"),
        ],
        ref_template=_REF,
    )
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "orders", "version": "1.0.0"},
        "paths": _with_limits(_paths()),
        "components": {"schemas": schemas["$defs"]},
    }
    if bearer_auth:
        document["paths"] = _with_bearer_auth(document["paths"])
        document["security"] = [{"bearer": []}]
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
    document["paths"] = _with_head(document["paths"])
    return orjson.dumps(document)


def openapi_response(bearer_auth: bool) -> Response:
    return Response(openapi_document(bearer_auth), media_type="application/json")
