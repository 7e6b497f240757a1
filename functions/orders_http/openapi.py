"""The OpenAPI 3.1 document, generated from the models the code validates and answers with and
from the patterns it matches request values with: a request the document allows is one the
server takes, and every answer an operation can give is declared, each error with the problem
types (RFC 9457) it can carry."""

import copy
from functools import cache
from typing import Any

import orjson
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from functions.orders_http.http_input import (
    CURSOR_PATTERN,
    DEFAULT_PAGE_SIZE,
    ENTITY_TAG_LIST_PATTERN,
    IDEMPOTENCY_KEY_PATTERN,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    ORDER_ID_PATTERN,
)
from shared.domain.lifecycle import LIFECYCLE
from shared.domain.schemas import (
    IDENTIFIER_PATTERN,
    MAX_IDENTIFIER_LENGTH,
    OrderIn,
    OrderOut,
    OrderPage,
    Problem,
)
from shared.runtime.auth import OPEN_PATHS
from shared.runtime.problems import PROBLEM_TYPE_BASE

_REF = "#/components/schemas/{model}"
_PROBLEM = "application/problem+json"
JSON = "application/json"


def _header(description: str, pattern: str) -> dict[str, Any]:
    return {
        "description": description,
        "required": True,
        "schema": {"type": "string", "pattern": f"^{pattern}$"},
    }


_ETAG = {"ETag": _header("The order's version as a strong entity tag", '"[1-9][0-9]*"')}
_RETRY_AFTER = {"Retry-After": _header("Seconds to wait before retrying", "[0-9]+")}
_LOCATION = {"Location": _header("The order's path", f"/{ORDER_ID_PATTERN}")}
_CHALLENGE = {
    "WWW-Authenticate": _header(
        "The bearer challenge (RFC 6750)", 'Bearer( error="invalid_token")?'
    )
}


def _problem(
    status: int, description: str, *slugs: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An error answer: a problem document of this status, whose `type` is one of `slugs`'."""
    schema = {
        "allOf": [
            {"$ref": _REF.format(model="Problem")},
            {
                "properties": {
                    "status": {"const": status},
                    "type": {"enum": [PROBLEM_TYPE_BASE + slug for slug in slugs]},
                }
            },
        ]
    }
    answer: dict[str, Any] = {"description": description, "content": {_PROBLEM: {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _json(schema: dict[str, Any], description: str, **headers: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _model(name: str) -> dict[str, Any]:
    return {"$ref": _REF.format(model=name)}


def _guarded(responses: dict[str, Any], *, database: bool) -> dict[str, Any]:
    """What every request to the function itself may meet besides its own answers: the bound on
    header bytes (431), and 503 for the deadline, the bound on requests in flight and, where the
    operation reads or writes orders, the database."""
    slugs = ("database-unavailable", "database-busy") if database else ()
    return {
        **responses,
        "431": _problem(431, "Request headers over MAX_HEADER_BYTES", "headers-too-large"),
        "503": _problem(
            503,
            "Retry after Retry-After seconds: "
            + ("the database is unreachable or every connection busy, " if database else "")
            + "no answer within REQUEST_TIMEOUT_SECONDS, or more than MAX_CONCURRENCY requests",
            *slugs,
            "timeout",
            "overloaded",
            headers=_RETRY_AFTER,
        ),
    }


_ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "description": "The order's id as the API writes it (36 characters; any other is a 404)",
    "schema": {"type": "string", "format": "uuid", "pattern": f"^{ORDER_ID_PATTERN}$"},
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": (
        "`*` or a list of entity tags (RFC 9110 13.1.1). Compared strongly: only a strong tag"
        ' of a version, 1..2147483647 written as the ETag writes it ("3"), can match; a weak'
        ' tag W/"3", or "03", matches none (412)'
    ),
    "schema": {
        "anyOf": [
            {"const": "*"},
            {"type": "string", "pattern": f"^{ENTITY_TAG_LIST_PATTERN}$"},
        ]
    },
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Printable ASCII. A retry with the same key and body answers the first answer; the"
        " same key with another body is a 422 (draft-ietf-httpapi-idempotency-key-header)"
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
        "pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$",
    },
}
_BODY = {"required": True, "content": {JSON: {"schema": _model("OrderIn")}}}
_NOT_FOUND = {"404": _problem(404, "No such order (or the id is not one)", "not-found")}
_STALE = {"412": _problem(412, "If-Match names no version the order is at", "version-mismatch")}
_BODY_REFUSED = {
    "413": _problem(413, "Body over MAX_BODY_BYTES", "payload-too-large"),
    "415": _problem(415, "Body is not application/json", "unsupported-media-type"),
}


def _links(order_id: str) -> dict[str, Any]:
    """Where an answer carrying an order leads: read, replace or delete that very order, the
    last two on condition that it is still at the version this answer's ETag names."""
    with_version = {"path.order_id": order_id, "header.If-Match": "$response.header.ETag"}
    return {
        "ReadOrder": {"operationId": "readOrder", "parameters": {"path.order_id": order_id}},
        "ReplaceOrder": {"operationId": "replaceOrder", "parameters": with_version},
        "DeleteOrder": {"operationId": "deleteOrder", "parameters": with_version},
    }


_ORDER_LINKS = _links("$response.body#/id")


def _order(description: str, **headers: Any) -> dict[str, Any]:
    return {**_json(_model("OrderOut"), description, **headers, **_ETAG), "links": _ORDER_LINKS}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


def _orders(max_page_size: int) -> dict[str, Any]:
    return {
        "get": {
            "operationId": "listOrders",
            "parameters": [
                _query(
                    "limit",
                    "Orders a page, in decimal (no sign, no leading zero)",
                    {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": max_page_size,
                        "default": DEFAULT_PAGE_SIZE,
                    },
                ),
                _query(
                    "cursor",
                    "Where to continue: a page's next_cursor, passed back unchanged",
                    {"type": "string", "pattern": f"^{CURSOR_PATTERN}$"},
                ),
                _query(
                    "status",
                    "Only orders of this status",
                    {"type": "string", "enum": [stage.status.value for stage in LIFECYCLE]},
                ),
                _query(
                    "customer_id",
                    "Only orders of this customer",
                    {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_IDENTIFIER_LENGTH,
                        "pattern": IDENTIFIER_PATTERN,
                    },
                ),
            ],
            "responses": _guarded(
                {
                    "200": _json(_model("OrderPage"), "A page of orders, oldest first"),
                    "400": _problem(
                        400,
                        "A limit, status, customer_id or cursor the document does not allow",
                        "invalid-limit",
                        "invalid-status",
                        "invalid-customer-id",
                        "invalid-cursor",
                    ),
                },
                database=True,
            ),
        },
        "post": {
            "operationId": "createOrder",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _BODY,
            "responses": _guarded(
                {
                    "201": _order(
                        "Created, or the first answer given to this Idempotency-Key",
                        **_LOCATION,
                    ),
                    "400": _problem(
                        400,
                        "Malformed JSON (or a key twice in one object), or a bad Idempotency-Key",
                        "malformed-json",
                        "invalid-idempotency-key",
                    ),
                    **_BODY_REFUSED,
                    "422": _problem(
                        422,
                        "Body fails validation (`errors` lists each field), or the"
                        " Idempotency-Key was used with another body",
                        "validation-error",
                        "idempotency-key-reused",
                    ),
                },
                database=True,
            ),
        },
    }


def _order_item() -> dict[str, Any]:
    return {
        "parameters": [_ORDER_ID],
        "get": {
            "operationId": "readOrder",
            "responses": _guarded({"200": _order("The order"), **_NOT_FOUND}, database=True),
        },
        "put": {
            "operationId": "replaceOrder",
            "parameters": [_IF_MATCH],
            "requestBody": _BODY,
            "responses": _guarded(
                {
                    "200": _order("The order after the change"),
                    "400": _problem(
                        400,
                        "Malformed JSON (or a key twice in one object), or a malformed If-Match",
                        "malformed-json",
                        "invalid-if-match",
                    ),
                    **_NOT_FOUND,
                    "409": _problem(409, "The order is past CREATED", "not-editable"),
                    **_STALE,
                    **_BODY_REFUSED,
                    "422": _problem(
                        422, "Body fails validation; `errors` lists each field", "validation-error"
                    ),
                },
                database=True,
            ),
        },
        "delete": {
            "operationId": "deleteOrder",
            "parameters": [_IF_MATCH],
            "responses": _guarded(
                {
                    "204": {"description": "Deleted"},
                    "400": _problem(400, "A malformed If-Match", "invalid-if-match"),
                    **_NOT_FOUND,
                    **_STALE,
                },
                database=True,
            ),
        },
    }


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


_UNAUTHENTICATED = _problem(
    401,
    "No bearer token, or one that is expired, for another audience or not signed by a known key",
    "unauthenticated",
    headers=_CHALLENGE,
)
_FORBIDDEN = _problem(
    403,
    "The token grants no access here: it names no customer and lacks the service grant, the"
    " route needs that grant, or the request names another customer than the token's",
    "forbidden",
)


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


@cache
def openapi_document(bearer_auth: bool = False, max_page_size: int = 100) -> bytes:
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
        "paths": _paths(max_page_size),
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


def openapi_response(bearer_auth: bool, max_page_size: int) -> Response:
    return Response(openapi_document(bearer_auth, max_page_size), media_type=JSON)
