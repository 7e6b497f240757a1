"""Bad input gets a clear 4xx problem and changes nothing."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support import order_body

JSON = {"content-type": "application/json"}


@pytest.fixture
async def unchanged(db: asyncpg.Connection) -> AsyncIterator[None]:
    """Asserts, after the test, that the tables hold exactly what they held before it."""
    before = await _snapshot(db)
    yield
    assert await _snapshot(db) == before


async def _snapshot(db: asyncpg.Connection) -> list[Any]:
    orders = await db.fetch("SELECT * FROM orders ORDER BY seq")
    keys = await db.fetch("SELECT * FROM idempotency_keys ORDER BY key")
    return [dict(row) for row in [*orders, *keys]]


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    assert problem["type"].startswith("urn:orders:problem:")
    return problem


@pytest.fixture
async def existing(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/", json=order_body())
    order: dict[str, Any] = response.json()
    return order


BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("malformed json", b'{"customer_id": "c", "items": [', 400),
    ("not json at all", b"customer_id=c", 400),
    ("invalid utf-8", b'{"customer_id": "\xff\xfe"}', 400),
    ("empty body", b"", 400),
    ("json array", b"[]", 422),
    ("json null", b"null", 422),
    ("missing items", b'{"customer_id": "c"}', 422),
    ("empty items", b'{"customer_id": "c", "items": []}', 422),
    ("items not a list", b'{"customer_id": "c", "items": {"sku": "a"}}', 422),
    (
        "customer as number",
        b'{"customer_id": 7, "items": [{"sku":"a","quantity":1,"unit_price_cents":1}]}',
        422,
    ),
    (
        "empty customer",
        b'{"customer_id": "", "items": [{"sku":"a","quantity":1,"unit_price_cents":1}]}',
        422,
    ),
    (
        "quantity as string",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":"1","unit_price_cents":1}]}',
        422,
    ),
    (
        "quantity as float",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":1.5,"unit_price_cents":1}]}',
        422,
    ),
    (
        "quantity as bool",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":true,"unit_price_cents":1}]}',
        422,
    ),
    (
        "zero quantity",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":0,"unit_price_cents":1}]}',
        422,
    ),
    (
        "negative quantity",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":-1,"unit_price_cents":1}]}',
        422,
    ),
    (
        "negative price",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":1,"unit_price_cents":-5}]}',
        422,
    ),
    (
        "huge quantity",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":99999999999999999999999,"unit_price_cents":1}]}',
        422,
    ),
    (
        "unknown top field",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":1,"unit_price_cents":1}], "x": 1}',
        422,
    ),
    (
        "unknown item field",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":1,"unit_price_cents":1,"x":1}]}',
        422,
    ),
    (
        "server-owned field",
        b'{"customer_id": "c", "items": [{"sku":"a","quantity":1,"unit_price_cents":1}], "status": "SHIPPED"}',
        422,
    ),
]


@pytest.mark.parametrize(
    ("body", "status"), [(b, s) for _, b, s in BAD_BODIES], ids=[n for n, _, _ in BAD_BODIES]
)
@pytest.mark.usefixtures("unchanged")
async def test_bad_create_body(client: httpx.AsyncClient, body: bytes, status: int) -> None:
    _assert_problem(await client.post("/", content=body, headers=JSON), status)


@pytest.mark.parametrize(
    ("body", "status"), [(b, s) for _, b, s in BAD_BODIES], ids=[n for n, _, _ in BAD_BODIES]
)
async def test_bad_update_body_changes_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    existing: dict[str, Any],
    body: bytes,
    status: int,
) -> None:
    before = await _snapshot(db)
    _assert_problem(await client.put(f"/{existing['id']}", content=body, headers=JSON), status)
    assert await _snapshot(db) == before


@pytest.mark.usefixtures("unchanged")
async def test_validation_errors_list_each_field(client: httpx.AsyncClient) -> None:
    body = {
        "customer_id": "",
        "items": [{"sku": "a", "quantity": 0, "unit_price_cents": -1}],
    }
    problem = _assert_problem(await client.post("/", json=body), 422)
    locations = {tuple(error["loc"]) for error in problem["errors"]}
    assert locations == {
        ("customer_id",),
        ("items", 0, "quantity"),
        ("items", 0, "unit_price_cents"),
    }


@pytest.mark.usefixtures("unchanged")
async def test_too_many_items_is_422(client: httpx.AsyncClient) -> None:
    items = [{"sku": f"s{i}", "quantity": 1, "unit_price_cents": 1} for i in range(101)]
    problem = _assert_problem(
        await client.post("/", json={"customer_id": "c", "items": items}), 422
    )
    assert problem["errors"][0]["loc"] == ["items"]


async def test_a_hundred_items_is_fine(client: httpx.AsyncClient) -> None:
    items = [{"sku": f"s{i}", "quantity": 1, "unit_price_cents": 1} for i in range(100)]
    assert (await client.post("/", json={"customer_id": "c", "items": items})).status_code == 201


@pytest.mark.usefixtures("unchanged")
async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"customer_id": "' + b"x" * 70_000 + b'"}'
    _assert_problem(await client.post("/", content=body, headers=JSON), 413)


@pytest.mark.usefixtures("unchanged")
async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    _assert_problem(await client.post("/", content=chunks(), headers=JSON), 413)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
@pytest.mark.usefixtures("unchanged")
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/", content=b'{"customer_id": "c"}', headers=headers)
    _assert_problem(response, 415)


async def test_json_with_charset_is_accepted(client: httpx.AsyncClient) -> None:
    import orjson

    headers = {"content-type": "application/json; charset=utf-8"}
    response = await client.post("/", content=orjson.dumps(order_body()), headers=headers)
    assert response.status_code == 201


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "%00", "' OR 1=1 --"])
@pytest.mark.usefixtures("unchanged")
async def test_non_uuid_id_is_404(client: httpx.AsyncClient, bad_id: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, f"/{bad_id}", json=order_body())
        _assert_problem(response, 404)


@pytest.mark.usefixtures("unchanged")
async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get(f"/{uuid.uuid4()}/items"), 404)
    not_allowed = await client.patch(f"/{uuid.uuid4()}", json={})
    _assert_problem(not_allowed, 405)
    assert not_allowed.headers["allow"] == "GET, PUT, DELETE"
    _assert_problem(await client.delete("/"), 405)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"status": "LOST"},
        {"cursor": "bm9wZQ"},
        {"cursor": "!!!"},
    ],
)
async def test_bad_list_query_is_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    _assert_problem(await client.get("/", params=params), 400)


@pytest.mark.usefixtures("unchanged")
async def test_overlong_idempotency_key_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/", json=order_body(), headers={"Idempotency-Key": "k" * 300})
    _assert_problem(response, 400)


async def test_malformed_if_match_is_400_and_a_foreign_tag_412(
    client: httpx.AsyncClient, existing: dict[str, Any]
) -> None:
    response = await client.put(
        f"/{existing['id']}", json=order_body("c-2"), headers={"If-Match": "garbage"}
    )
    _assert_problem(response, 400)
    foreign = await client.put(
        f"/{existing['id']}", json=order_body("c-2"), headers={"If-Match": '"abc"'}
    )
    _assert_problem(foreign, 412)
    multi = await client.put(
        f"/{existing['id']}", json=order_body("c-2"), headers={"If-Match": '"5", "1"'}
    )
    assert multi.status_code == 200
