"""Every state change writes its CloudEvent in the same transaction; refused requests write none."""

import uuid
from typing import Any

import asyncpg
import httpx
import orjson

from tests.support import order_body

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def _events(db: asyncpg.Connection, order_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT * FROM outbox WHERE order_id = $1 ORDER BY seq", uuid.UUID(order_id)
    )
    return [dict(row) for row in rows]


async def test_create_update_delete_each_write_one_event(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    created = await client.post("/", json=order_body(), headers={"traceparent": TRACEPARENT})
    order = created.json()
    updated = (await client.put(f"/{order['id']}", json=order_body("c-2"))).json()
    assert (await client.delete(f"/{order['id']}")).status_code == 204

    events = await _events(db, order["id"])
    assert [e["type"] for e in events] == [
        "orders.order.created",
        "orders.order.updated",
        "orders.order.deleted",
    ]
    assert [e["source"] for e in events] == ["/orders/orders_http"] * 3
    assert orjson.loads(events[0]["data"]) == order
    assert orjson.loads(events[1]["data"]) == updated
    assert orjson.loads(events[2]["data"]) == updated
    assert events[0]["traceparent"] == TRACEPARENT
    assert events[0]["time"].isoformat() == order["created_at"]
    assert len({e["id"] for e in events}) == 3


async def test_refused_and_replayed_requests_write_no_event(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    first = await client.post("/", json=order_body(), headers={"Idempotency-Key": "once"})
    again = await client.post("/", json=order_body(), headers={"Idempotency-Key": "once"})
    assert again.json() == first.json()
    order_id = first.json()["id"]
    assert (
        await client.put(f"/{order_id}", json=order_body(), headers={"If-Match": '"9"'})
    ).status_code == 412
    assert (await client.put(f"/{order_id}", json={"customer_id": ""})).status_code == 422
    await db.execute("UPDATE orders SET status = 'SHIPPED' WHERE id = $1", uuid.UUID(order_id))
    assert (await client.put(f"/{order_id}", json=order_body())).status_code == 409
    assert [e["type"] for e in await _events(db, order_id)] == ["orders.order.created"]
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1
