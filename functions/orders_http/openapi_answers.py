"""The OpenAPI document's answers and what they are made of: the headers, a problem document
of one status and its problem types (RFC 9457), a JSON body, what every guarded request may
meet besides its own answers, and the links from an answer carrying an order."""

from typing import Any

from functions.orders_http.http_input import ORDER_ID_PATTERN
from functions.orders_http.openapi import JSON
from shared.runtime.problems import PROBLEM_TYPE_BASE

_REF = "#/components/schemas/{model}"
_PROBLEM = "application/problem+json"


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
