"""The OpenAPI document describes the routes the code really serves."""

import httpx

from functions.orders_http.app import FIXED_ROUTES, ORDER_METHODS, ORDER_ROUTE
from shared.ops import OPS_PATHS
from shared.schemas import OrderIn


async def test_document_is_openapi_3_1_covering_every_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    served = {path: set(methods) for path, methods in FIXED_ROUTES.items()}
    served[ORDER_ROUTE] = set(ORDER_METHODS)
    served.update({path: {"GET", "HEAD"} for path in OPS_PATHS})
    documented = {
        path: {method.upper() for method in item if method != "parameters"}
        for path, item in document["paths"].items()
    }
    assert documented == served


async def test_request_schema_is_the_validating_model(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    order_in = schemas["OrderIn"]
    assert order_in["additionalProperties"] is False
    assert order_in["properties"]["items"]["maxItems"] == 100
    expected = OrderIn.model_json_schema(ref_template="#/components/schemas/{model}")
    assert order_in["required"] == expected["required"]
    body = document["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/OrderIn"}


async def test_every_documented_error_is_a_problem(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for item in document["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if method == "head":  # no body, as the GET's status and headers
                assert set(operation["responses"]) == set(item["get"]["responses"])
                assert not any("content" in answer for answer in operation["responses"].values())
                continue
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in answer["content"], (method, status)
