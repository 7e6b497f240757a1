"""Concurrent creates sharing statements, against the real database."""

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.create_batches import CreateBatches
from shared.db import get_database
from shared.events import EventType, OrderEvent, order_event
from shared.orders import Order, new_order, to_json
from shared.schemas import LineItem, OrderIn


def _announced(customer: str) -> tuple[Order, OrderEvent]:
    now = datetime.now(UTC)
    body = OrderIn(customer_id=customer, items=[LineItem(sku="a", quantity=2, unit_price_cents=5)])
    order = new_order(body, now)
    return order, order_event(EventType.CREATED, order["id"], to_json(order), now)


async def _stored(db: asyncpg.Connection) -> tuple[int, int, int]:
    orders = await db.fetchval("SELECT count(*) FROM orders")
    events = await db.fetchval("SELECT count(*) FROM outbox")
    matched = await db.fetchval(
        "SELECT count(*) FROM orders o JOIN outbox e ON e.order_id = o.id"
        " WHERE convert_from(e.data, 'UTF8')::jsonb ->> 'id' = o.id::text"
        " AND convert_from(e.data, 'UTF8')::jsonb -> 'items' = o.items"
    )
    return orders, events, matched


async def test_concurrent_creates_are_all_stored_with_their_events(db: asyncpg.Connection) -> None:
    batches = CreateBatches(get_database())
    announced = [_announced(f"c{n}") for n in range(150)]
    await asyncio.gather(*(batches.insert(order, event) for order, event in announced))
    assert await _stored(db) == (150, 150, 150)
    rows = await db.fetch("SELECT id, customer_id, total_cents, version, status FROM orders")
    assert {(r["id"], r["customer_id"]) for r in rows} == {
        (o["id"], o["customer_id"]) for o, _ in announced
    }
    assert {(r["total_cents"], r["version"], r["status"]) for r in rows} == {(10, 1, "CREATED")}


async def test_a_bad_row_fails_only_its_own_create(db: asyncpg.Connection) -> None:
    batches = CreateBatches(get_database())
    good = [_announced(f"good{n}") for n in range(5)]
    clash_order, clash_event = _announced("clash")
    # The same order id twice: the second row breaks the primary key, the statement fails whole.
    twin = (
        {**clash_order},
        order_event(EventType.CREATED, clash_order["id"], b"{}", datetime.now(UTC)),
    )
    results = await asyncio.gather(
        *(
            batches.insert(o, e)
            for o, e in [*good[:2], (clash_order, clash_event), twin, *good[2:]]
        ),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1
    assert isinstance(failures[0], asyncpg.UniqueViolationError)
    assert await db.fetchval("SELECT count(*) FROM orders") == 6
    assert await db.fetchval("SELECT count(*) FROM outbox") == 6


async def test_a_caller_gone_before_its_turn_is_not_written(
    db: asyncpg.Connection, database_url: str
) -> None:
    batches = CreateBatches(get_database())
    # Hold the orders table so the first statement waits; the second caller gives up meanwhile.
    holder = await asyncpg.connect(database_url)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE orders IN EXCLUSIVE MODE")
    first = asyncio.create_task(batches.insert(*_announced("first")))
    await asyncio.sleep(0.2)
    gone = asyncio.create_task(batches.insert(*_announced("gone")))
    await asyncio.sleep(0.05)
    gone.cancel()
    await transaction.rollback()
    await holder.close()
    await first
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.sleep(0.2)
    assert await db.fetchval("SELECT array_agg(customer_id) FROM orders") == ["first"]
