"""The OpenAPI document's order operations: list and create on `/`, read, replace and delete
on `/{order_id}`, each with every answer it can give."""

from typing import Any

from functions.orders_http.http_input import CURSOR_PATTERN, DEFAULT_PAGE_SIZE
from functions.orders_http.openapi_answers import (
    _BODY_REFUSED,
    _LOCATION,
    _NOT_FOUND,
    _STALE,
    _guarded,
    _json,
    _model,
    _order,
    _problem,
)
from functions.orders_http.openapi_parameters import (
    _BODY,
    _IDEMPOTENCY_KEY,
    _IF_MATCH,
    _ORDER_ID,
    _query,
)
from shared.domain.lifecycle import LIFECYCLE
from shared.domain.schemas import IDENTIFIER_PATTERN, MAX_IDENTIFIER_LENGTH


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
