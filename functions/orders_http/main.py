"""The orders HTTP function: CRUD over orders."""

from starlette.requests import Request
from starlette.responses import Response

from functions.orders_http.app import dispatch
from shared.function_app import http


@http
async def orders_http(request: Request) -> Response:
    return await dispatch(request)
