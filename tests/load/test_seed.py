"""bench-scale's bulk load writes the rows the service writes: the API reads each order as its
last event announced it, a seeded Idempotency-Key replays its first answer, and ids are those
the service makes."""

import uuid

import asyncpg
import httpx
import orjson
import pytest

from shared.domain.ids import unix_ms_of
from shared.domain.schemas import OrderOut
from shared.store.outbox_partitions import day_name, day_of
from tests.load.seed import Plan, seed

# 10 orders a second with steps of 10 s: of 300 orders the newest 100 are CREATED, the 100
# before CONFIRMED, the rest SHIPPED.
PLAN = Plan(orders=300, ids="uuid7", rate=10, confirm_delay=10, ship_delay=10, key_share=0.5)


@pytest.mark.parametrize("ids", ["uuid7", "uuid4"])
async def test_seeded_orders_read_as_the_service_wrote_them(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str, ids: str
) -> None:
    plan = Plan(**{**PLAN.__dict__, "ids": ids})
    report = await seed(database_url, plan, progress=lambda _: None)
    counts = dict(await db.fetch("SELECT status, count(*) FROM orders GROUP BY status"))
    assert counts == report.statuses
    assert set(counts) == {"CREATED", "CONFIRMED", "SHIPPED"}
    assert sum(counts.values()) == 300
    assert counts["CREATED"] >= 99
    assert counts["CONFIRMED"] >= 99
    events = await db.fetch("SELECT * FROM outbox ORDER BY seq")
    assert (
        len(events)
        == report.events
        == sum(n * counts[s] for n, s in ((1, "CREATED"), (2, "CONFIRMED"), (3, "SHIPPED")))
    )
    assert [e["time"] for e in events] == sorted(e["time"] for e in events), "seq follows time"
    # Each UUIDv7 event in the partition of its day, as the relay keeps the outbox.
    where = dict(await db.fetch("SELECT id, tableoid::regclass::text FROM outbox"))
    if ids == "uuid7":
        assert {where[e["id"]] for e in events} == {day_name(day_of(e["time"])) for e in events}
        assert all(where[e["id"]] == day_name(day_of(e["time"])) for e in events)
    unpublished = [e for e in events if e["published_at"] is None]
    assert len(unpublished) == report.unpublished <= 2  # the newest only
    last_event: dict[uuid.UUID, asyncpg.Record] = {e["order_id"]: e for e in events}
    for order_id, event in last_event.items():
        assert order_id.version == int(ids[-1])
        assert event["id"].version == int(ids[-1])
        response = await client.get(f"/{order_id}")
        assert response.status_code == 200
        # What the API answers is, byte for byte, what the order's last event carries.
        assert response.content == event["data"]
        order = OrderOut.model_validate_json(response.content)
        assert response.headers["etag"] == f'"{order.version}"'
        assert event["type"] == f"orders.order.{order.status.lower()}"
        if ids == "uuid7":
            assert unix_ms_of(order_id) == int(order.created_at.timestamp() * 1000)
            assert unix_ms_of(event["id"]) == int(event["time"].timestamp() * 1000)
    # A retried POST with a seeded key gets the first answer, as for a key the service stored.
    keys = await db.fetch("SELECT key, order_id FROM idempotency_keys")
    assert len(keys) == report.keys
    assert 100 < len(keys) < 200
    (_, key), order_id = orjson.loads(keys[0]["key"]), keys[0]["order_id"]
    first = orjson.loads(next(e["data"] for e in events if e["order_id"] == order_id))
    body = {"customer_id": first["customer_id"], "items": first["items"]}
    retry = await client.post("/", json=body, headers={"idempotency-key": key})
    assert retry.status_code == 201
    assert retry.json() == first
    other = {**body, "customer_id": "someone-else"}
    refused = await client.post("/", json=other, headers={"idempotency-key": key})
    assert refused.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM orders") == 300
