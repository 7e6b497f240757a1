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
    assert not_allowed.headers["allow"] == "GET, HEAD, PUT, DELETE"
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


@pytest.mark.parametrize(
    "cursor",
    [
        "8000000000000000",  # 2^63
        "ffffffffffffffff",  # 2^64 - 1
        "1" + "0" * 16,  # 2^64
        "9" * 20,
        pytest.param("9" * 5000, id="9x5000"),
        "0000000000000000000000001",
        "YWZ0ZXI6MQ",  # the base64 of `after:1` an earlier version gave out
    ],
)
async def test_a_cursor_past_what_the_api_issues_is_400(
    client: httpx.AsyncClient, cursor: str
) -> None:
    problem = _assert_problem(await client.get("/", params={"cursor": cursor}), 400)
    assert problem["type"].endswith(":invalid-cursor")


async def test_every_cursor_the_document_allows_is_a_position(client: httpx.AsyncClient) -> None:
    """The start, and past the newest order: an empty page."""
    await client.post("/", json=order_body())
    first = await client.get("/", params={"cursor": "0" * 16})
    assert first.status_code == 200, first.text
    assert first.json() == (await client.get("/")).json()
    response = await client.get("/", params={"cursor": f"{2**63 - 1:016x}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "tag",
    [
        '"99999999999999999999"',
        f'"{2**31}"',
        f'"{2**63}"',
        f'"{2**64}"',
        pytest.param('"' + "9" * 5000 + '"', id="9x5000"),
        '"0"',
        '"01"',
        '"-1"',
        '"1", "99999999999999999999"',
    ],
)
async def test_an_if_match_no_version_can_have_is_412(
    client: httpx.AsyncClient, existing: dict[str, Any], tag: str
) -> None:
    # "1", "99999..." lists version 1: the order is at 1, so that one must match.
    expected = 200 if tag.startswith('"1",') else 412
    put = await client.put(f"/{existing['id']}", json=order_body(), headers={"If-Match": tag})
    assert put.status_code == expected, put.text
    if expected == 412:
        _assert_problem(put, 412)
        deleted = await client.delete(f"/{existing['id']}", headers={"If-Match": tag})
        _assert_problem(deleted, 412)


async def test_a_weak_tag_never_matches(
    client: httpx.AsyncClient, existing: dict[str, Any]
) -> None:
    """RFC 9110 13.1.1: If-Match compares strongly."""
    path = f"/{existing['id']}"
    _assert_problem(await client.put(path, json=order_body(), headers={"If-Match": 'W/"1"'}), 412)
    _assert_problem(await client.delete(path, headers={"If-Match": 'W/"1"'}), 412)
    both = await client.delete(path, headers={"If-Match": 'W/"1", "1"'})
    assert both.status_code == 204


@pytest.mark.parametrize(
    "limit", ["9" * 30, pytest.param("9" * 5000, id="9x5000"), f"{2**63}", "\uff11\uff10"]
)
async def test_a_limit_of_any_length_is_400(client: httpx.AsyncClient, limit: str) -> None:
    _assert_problem(await client.get("/", params={"limit": limit}), 400)


@pytest.mark.parametrize(
    "customer_id", ["a\x00b", pytest.param("c" * 10_000, id="cx10000"), "c-1\n", "ç"]
)
async def test_a_customer_filter_no_order_can_have_is_400(
    client: httpx.AsyncClient, customer_id: str
) -> None:
    response = await client.get("/", params={"customer_id": customer_id})
    problem = _assert_problem(response, 400)
    assert len(response.content) < 1000, "the filter is not echoed back"
    assert problem["type"].endswith(":invalid-customer-id")


@pytest.mark.parametrize("status", ["CREATED\x00", pytest.param("S" * 10_000, id="Sx10000")])
async def test_a_status_with_nul_or_of_any_length_is_400(
    client: httpx.AsyncClient, status: str
) -> None:
    _assert_problem(await client.get("/", params={"status": status}), 400)


@pytest.mark.parametrize(
    "raw_id", ["%00", pytest.param("a" * 10_000, id="ax10000"), "%FF%FE", str(uuid.uuid4()) + "%00"]
)
@pytest.mark.usefixtures("unchanged")
async def test_a_path_id_of_any_bytes_is_404_without_an_echo(
    client: httpx.AsyncClient, raw_id: str
) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, f"/{raw_id}", json=order_body())
        _assert_problem(response, 404)
        assert len(response.content) < 1000


@pytest.mark.parametrize(
    "key", [b"a\x00b", "kl\xe9".encode(), "k\u00e9".encode(), b"k\x7f", b"tab\there"]
)
@pytest.mark.usefixtures("unchanged")
async def test_an_idempotency_key_of_other_than_printable_ascii_is_400(
    client: httpx.AsyncClient, key: bytes
) -> None:
    response = await client.post("/", json=order_body(), headers={b"Idempotency-Key": key})
    problem = _assert_problem(response, 400)
    assert problem["type"].endswith(":invalid-idempotency-key")


@pytest.mark.usefixtures("unchanged")
async def test_a_content_length_of_thousands_of_digits_is_413(
    client: httpx.AsyncClient,
) -> None:
    headers = {**JSON, "content-length": "9" * 5000}
    _assert_problem(await client.post("/", content=b"{}", headers=headers), 413)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"customer_id": "a", "customer_id": "b", "items": []}', "customer_id"),
        (
            b'{"customer_id": "c", "items": [{"sku": "a", "quantity": 1, "quantity": 5,'
            b' "unit_price_cents": 1}]}',
            "quantity",
        ),
        (
            b'{"customer_id": "c:1", "items": [{"sku": "a:b", "quantity": 1,'
            b' "unit_price_cents": 1, "unit_price_cents": 0}]}',
            "unit_price_cents",
        ),
        (b'{"customer_id": "c", "items": [{"sku": "a"}], "x": {"y": 1, "y": 2}}', "y"),
        (b'{"customer\\u005fid": "c", "customer_id": "d", "items": []}', "customer_id"),
    ],
)
@pytest.mark.usefixtures("unchanged")
async def test_a_body_with_a_duplicate_key_is_400_naming_it(
    client: httpx.AsyncClient, body: bytes, key: str
) -> None:
    problem = _assert_problem(await client.post("/", content=body, headers=JSON), 400)
    assert problem["type"].endswith(":malformed-json")
    assert repr(key) in problem["detail"] or f'"{key}"' in problem["detail"], problem["detail"]


async def test_the_same_key_in_two_objects_is_no_duplicate(client: httpx.AsyncClient) -> None:
    body = {
        "customer_id": "c:1",
        "items": [
            {"sku": "a:1", "quantity": 1, "unit_price_cents": 1},
            {"sku": "a:2", "quantity": 2, "unit_price_cents": 2},
        ],
    }
    assert (await client.post("/", json=body)).status_code == 201


@pytest.mark.parametrize(
    "quantity", [b"1e400", b"-1e400", b"1e20", b"-0.0", b"NaN", b"Infinity", b"1" * 400, b"2.5"]
)
@pytest.mark.usefixtures("unchanged")
async def test_numbers_past_every_width_are_422(client: httpx.AsyncClient, quantity: bytes) -> None:
    body = b'{"customer_id": "c", "items": [{"sku": "a", "quantity": %s, "unit_price_cents": 1}]}'
    _assert_problem(await client.post("/", content=body % quantity, headers=JSON), 422)


@pytest.mark.parametrize("quantity", [b"2.0", b"2e0", b"0.2e1", b"2.000"])
async def test_integral_numbers_count_as_integers(
    client: httpx.AsyncClient, quantity: bytes
) -> None:
    """As JSON Schema counts them: 2.0 is the integer 2."""
    body = b'{"customer_id": "c", "items": [{"sku": "a", "quantity": %s, "unit_price_cents": 1}]}'
    response = await client.post("/", content=body % quantity, headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["quantity"] == 2


@pytest.mark.parametrize("sku", ["a\x00b", "a\u0000", "\x00"])
@pytest.mark.usefixtures("unchanged")
async def test_a_nul_in_a_string_is_422(client: httpx.AsyncClient, sku: str) -> None:
    body = {"customer_id": "c", "items": [{"sku": sku, "quantity": 1, "unit_price_cents": 1}]}
    _assert_problem(await client.post("/", json=body), 422)


@pytest.mark.parametrize(
    "body",
    [
        b"{" + b",".join(b'"k%d": %d' % (n, n) for n in range(4000)) + b"}",
        b'{"' + b"k" * 60_000 + b'": 1}',
        b'{"customer_id": "c", "items": ['
        + b",".join(b'{"sku": "%s"}' % (b"s" * 500) for _ in range(100))
        + b"]}",
    ],
    ids=["many unknown keys", "one huge key", "many bad items"],
)
@pytest.mark.usefixtures("unchanged")
async def test_an_error_body_stays_small_whatever_the_input(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post("/", content=body, headers=JSON)
    problem = _assert_problem(response, 422)
    assert len(response.content) < 8 * 1024, len(response.content)
    assert 1 <= len(problem["errors"]) <= 20
    assert "more" in problem["detail"] or len(problem["errors"]) < 20


@pytest.mark.parametrize(
    "spelling",
    [
        "{%s}",
        "urn:uuid:%s",
        "%s-",
    ],
)
async def test_an_order_has_one_address(client: httpx.AsyncClient, spelling: str) -> None:
    order_id = (await client.post("/", json=order_body())).json()["id"]
    assert (await client.get(f"/{order_id.upper()}")).status_code == 200
    for path in (spelling % order_id, order_id.replace("-", "")):
        _assert_problem(await client.get(f"/{path}"), 404)
