"""The OpenAPI document's request parameters, from the patterns the code matches request values
with: the order id in the path, `If-Match` and `Idempotency-Key`, a query parameter, the body."""

from typing import Any

from functions.orders_http.http_input import (
    ENTITY_TAG_LIST_PATTERN,
    IDEMPOTENCY_KEY_PATTERN,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    ORDER_ID_PATTERN,
)
from functions.orders_http.openapi import JSON
from functions.orders_http.openapi_answers import _model

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


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }
