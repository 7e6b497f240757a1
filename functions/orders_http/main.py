"""The orders HTTP function: CRUD over orders."""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from functions.orders_http.app import dispatch


@functions_framework.aio.http
async def orders_http(request: Request) -> Response:
    return await dispatch(request)
