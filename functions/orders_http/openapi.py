"""The OpenAPI 3.1 document, generated from the models the code validates and answers with and
from the patterns it matches request values with: a request the document allows is one the
server takes, and every answer an operation can give is declared, each error with the problem
types (RFC 9457) it can carry.

Built on the first request for it: its parts (`openapi_answers`, `openapi_parameters`,
`openapi_orders`, `openapi_paths`) are imported then, not when the function starts."""

from functools import cache
from typing import Any

import orjson
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from shared.domain.schemas import OrderIn, OrderOut, OrderPage, Problem

JSON = "application/json"


@cache
def openapi_document(bearer_auth: bool = False, max_page_size: int = 100) -> bytes:
    from functions.orders_http.openapi_answers import _REF
    from functions.orders_http.openapi_paths import _paths, _with_bearer_auth, _with_head

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
