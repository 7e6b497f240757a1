"""The five CRUD routes against a real PostgreSQL."""

import uuid

import asyncpg
import httpx

from tests.support import order_body


async def create(client: httpx.AsyncClient, **overrides: object) -> httpx.Response:
    response = await client.post("/", json=order_body(**overrides))  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    return response


async def test_create_answers_201_with_location_etag_and_computed_total(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    response = await create(client)
    order = response.json()
    assert response.headers["location"] == f"/{order['id']}"
    assert response.headers["etag"] == '"1"'
    assert order["status"] == "CREATED"
    assert order["version"] == 1
    assert order["total_cents"] == 2 * 1250 + 99
    assert order["created_at"] == order["updated_at"]
    assert order["confirmed_at"] is None
    assert order["shipped_at"] is None
    stored = await db.fetchrow(
        "SELECT total_cents, status FROM orders WHERE id = $1", uuid.UUID(order["id"])
    )
    assert stored is not None
    assert stored["total_cents"] == 2599
    assert stored["status"] == "CREATED"


async def test_client_cannot_set_the_total(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    response = await client.post("/", json={**order_body(), "total_cents": 1})
    assert response.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_read_returns_the_created_order_with_its_etag(client: httpx.AsyncClient) -> None:
    created = (await create(client)).json()
    response = await client.get(f"/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'


async def test_read_unknown_id_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404
    assert "does not exist" in problem["detail"]


async def test_update_replaces_fields_and_bumps_version(client: httpx.AsyncClient) -> None:
    created = (await create(client)).json()
    new_items = [{"sku": "SKU-9", "quantity": 3, "unit_price_cents": 500}]
    response = await client.put(
        f"/{created['id']}",
        json={"customer_id": "c-2", "items": new_items},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert updated["customer_id"] == "c-2"
    assert updated["items"] == new_items
    assert updated["total_cents"] == 1500
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]
    assert (await client.get(f"/{created['id']}")).json() == updated


async def test_update_without_if_match_is_allowed(client: httpx.AsyncClient) -> None:
    created = (await create(client)).json()
    response = await client.put(f"/{created['id']}", json=order_body("c-3"))
    assert response.status_code == 200
    assert response.json()["version"] == 2


async def test_update_with_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    created = (await create(client)).json()
    assert (await client.put(f"/{created['id']}", json=order_body("c-2"))).status_code == 200
    stale = await client.put(
        f"/{created['id']}", json=order_body("c-3"), headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/{created['id']}")).json()["customer_id"] == "c-2"


async def test_update_past_created_is_409(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for status in ("CONFIRMED", "SHIPPED"):
        created = (await create(client)).json()
        await db.execute(
            "UPDATE orders SET status = $2 WHERE id = $1", uuid.UUID(created["id"]), status
        )
        response = await client.put(f"/{created['id']}", json=order_body("c-2"))
        assert response.status_code == 409, status
        assert status in response.json()["detail"]
        assert (await client.get(f"/{created['id']}")).json()["customer_id"] == "c-1"


async def test_update_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/{uuid.uuid4()}", json=order_body())
    assert response.status_code == 404


async def test_delete_answers_204_then_404(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    created = (await create(client)).json()
    response = await client.delete(f"/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/{created['id']}")).status_code == 404
    assert (await client.delete(f"/{created['id']}")).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_delete_with_stale_if_match_is_412(client: httpx.AsyncClient) -> None:
    created = (await create(client)).json()
    response = await client.delete(f"/{created['id']}", headers={"If-Match": '"7"'})
    assert response.status_code == 412
    assert (await client.get(f"/{created['id']}")).status_code == 200
    assert (
        await client.delete(f"/{created['id']}", headers={"If-Match": '"1"'})
    ).status_code == 204


async def test_list_pages_with_an_opaque_cursor(client: httpx.AsyncClient) -> None:
    ids = [(await create(client)).json()["id"] for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/", params=params)
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [order["id"] for order in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3


async def test_list_filters_by_status_and_customer(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    a = (await create(client, customer_id="alice")).json()
    b = (await create(client, customer_id="bob")).json()
    c = (await create(client, customer_id="alice")).json()
    await db.execute("UPDATE orders SET status = 'CONFIRMED' WHERE id = $1", uuid.UUID(c["id"]))

    def ids(response: httpx.Response) -> list[str]:
        return [order["id"] for order in response.json()["items"]]

    assert ids(await client.get("/", params={"customer_id": "alice"})) == [a["id"], c["id"]]
    assert ids(await client.get("/", params={"status": "CREATED"})) == [a["id"], b["id"]]
    both = await client.get("/", params={"status": "CONFIRMED", "customer_id": "alice"})
    assert ids(both) == [c["id"]]
    assert ids(await client.get("/", params={"customer_id": "nobody"})) == []


async def test_list_of_nothing_has_no_next_cursor(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.json() == {"items": [], "next_cursor": None}


async def test_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await client.post("/", json=order_body(), headers=headers)
    again = await client.post("/", json=order_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_idempotency_key_with_another_body_is_422(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    headers = {"Idempotency-Key": "key-2"}
    assert (await client.post("/", json=order_body(), headers=headers)).status_code == 201
    other = await client.post("/", json=order_body("c-9"), headers=headers)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_distinct_idempotency_keys_make_distinct_orders(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for key in ("k-a", "k-b"):
        assert (
            await client.post("/", json=order_body(), headers={"Idempotency-Key": key})
        ).status_code == 201
    assert await db.fetchval("SELECT count(*) FROM orders") == 2


async def _get_and_head(
    client: httpx.AsyncClient, path: str
) -> tuple[httpx.Response, httpx.Response]:
    return await client.get(path), await client.head(path)


async def test_head_answers_wherever_get_does_with_its_headers_and_no_body(
    client: httpx.AsyncClient,
) -> None:
    """RFC 9110 9.3.2: HEAD is GET without the content."""
    created = (await create(client)).json()
    paths = [
        "/",
        "/?limit=1&status=CREATED",
        f"/{created['id']}",
        "/openapi.json",
        "/asyncapi.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ]
    for path in paths:
        got, head = await _get_and_head(client, path)
        assert got.status_code == 200, (path, got.text)
        assert head.status_code == 200, path
        assert head.content == b"", path
        names = {"content-type", "content-length", "etag", "location"}
        if path != "/metrics":  # the metrics text changes between the two requests
            assert {k: v for k, v in head.headers.items() if k in names} == {
                k: v for k, v in got.headers.items() if k in names
            }, path


async def test_head_of_an_error_has_the_gets_status_and_no_body(client: httpx.AsyncClient) -> None:
    for path, status in [(f"/{uuid.uuid4()}", 404), ("/not-a-uuid", 404), ("/?limit=0", 400)]:
        got, head = await _get_and_head(client, path)
        assert got.status_code == head.status_code == status, path
        assert head.headers["content-type"] == "application/problem+json"
        assert head.content == b""


async def test_allow_lists_head_where_get_is_allowed(client: httpx.AsyncClient) -> None:
    for path, allowed in [
        ("/", "GET, HEAD, POST"),
        (f"/{uuid.uuid4()}", "GET, HEAD, PUT, DELETE"),
        ("/openapi.json", "GET, HEAD"),
        ("/asyncapi.json", "GET, HEAD"),
        ("/healthz", "GET, HEAD"),
    ]:
        response = await client.patch(path, json={})
        assert response.status_code == 405
        assert response.headers["allow"] == allowed, path
