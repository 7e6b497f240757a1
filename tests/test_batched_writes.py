"""Concurrent writes sharing statements, against the real database."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.batched_writes import order_inserts, status_advances
from shared.events import EventType, OrderEvent, order_event
from shared.lifecycle import OrderStatus
from shared.orders import Order, advanced, new_order, to_json
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
    batches = order_inserts()
    announced = [_announced(f"c{n}") for n in range(150)]
    await asyncio.gather(*(batches.write((order, event)) for order, event in announced))
    assert await _stored(db) == (150, 150, 150)
    rows = await db.fetch("SELECT id, customer_id, total_cents, version, status FROM orders")
    assert {(r["id"], r["customer_id"]) for r in rows} == {
        (o["id"], o["customer_id"]) for o, _ in announced
    }
    assert {(r["total_cents"], r["version"], r["status"]) for r in rows} == {(10, 1, "CREATED")}


async def test_a_bad_row_fails_only_its_own_create(db: asyncpg.Connection) -> None:
    batches = order_inserts()
    good = [_announced(f"good{n}") for n in range(5)]
    clash_order, clash_event = _announced("clash")
    # The same order id twice: the second row breaks the primary key, the statement fails whole.
    twin = (
        {**clash_order},
        order_event(EventType.CREATED, clash_order["id"], b"{}", datetime.now(UTC)),
    )
    results = await asyncio.gather(
        *(
            batches.write((o, e))
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
    batches = order_inserts()
    # Hold the orders table so the first statement waits; the second caller gives up meanwhile.
    holder = await asyncpg.connect(database_url)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE orders IN EXCLUSIVE MODE")
    first = asyncio.create_task(batches.write(_announced("first")))
    await asyncio.sleep(0.2)
    gone = asyncio.create_task(batches.write(_announced("gone")))
    await asyncio.sleep(0.05)
    gone.cancel()
    await transaction.rollback()
    await holder.close()
    await first
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.sleep(0.2)
    assert await db.fetchval("SELECT array_agg(customer_id) FROM orders") == ["first"]


def _confirmed(order: Order, version: int = 1) -> tuple[int, OrderEvent]:
    now = datetime.now(UTC)
    payload = to_json(advanced(order, OrderStatus.CONFIRMED, now))
    return version, order_event(EventType.CONFIRMED, order["id"], payload, now)


async def _created(count: int) -> list[Order]:
    announced = [_announced(f"step{n}") for n in range(count)]
    await asyncio.gather(*(order_inserts().write(row) for row in announced))
    return [order for order, _ in announced]


async def test_concurrent_steps_move_each_order_once_and_announce_it_once(
    db: asyncpg.Connection,
) -> None:
    orders = await _created(100)
    steps = [_confirmed(order) for order in orders]
    # A duplicate delivery right behind each of the first 30 steps, and 10 stale ones.
    twins = [_confirmed(order) for order in orders[:30]]
    stale = [_confirmed(order, version=2) for order in orders[30:40]]
    arriving = [row for pair in zip(steps[:30], twins, strict=True) for row in pair]
    arriving += [*stale, *steps[30:]]
    confirm = status_advances(OrderStatus.CONFIRMED)
    moved = dict(
        zip(arriving, await asyncio.gather(*(confirm.write(row) for row in arriving)), strict=True)
    )
    assert [moved[row] for row in steps] == [True] * 100
    assert [moved[row] for row in [*twins, *stale]] == [False] * 40
    rows = await db.fetch(
        "SELECT o.id, o.status, o.version, o.updated_at, o.confirmed_at, e.id AS event, e.time"
        " FROM orders o JOIN outbox e ON e.order_id = o.id AND e.type = $1",
        EventType.CONFIRMED,
    )
    assert len(rows) == 100
    by_order = {row["id"]: row for row in rows}
    for version, event in steps:
        row = by_order[event.order_id]
        assert (row["status"], row["version"], row["event"]) == ("CONFIRMED", version + 1, event.id)
        assert row["updated_at"] == row["confirmed_at"] == row["time"] == event.time


async def test_a_bad_row_fails_only_its_own_step(db: asyncpg.Connection) -> None:
    orders = await _created(6)
    steps = [_confirmed(order) for order in orders]
    version, event = steps[3]
    # The event id of another step's event: the outbox's primary key refuses the second one.
    clash = (version, replace(event, id=steps[1][1].id))
    confirm = status_advances(OrderStatus.CONFIRMED)
    results = await asyncio.gather(
        *(confirm.write(row) for row in [*steps[:3], clash, *steps[4:]]), return_exceptions=True
    )
    assert results[:3] == [True] * 3
    assert results[4:] == [True] * 2
    assert isinstance(results[3], asyncpg.UniqueViolationError)
    statuses = await db.fetch(
        "SELECT id, status FROM orders WHERE id = ANY($1)", [o["id"] for o in orders]
    )
    assert {row["id"]: row["status"] for row in statuses} == {
        order["id"]: "CREATED" if order is orders[3] else "CONFIRMED" for order in orders
    }


async def test_racing_replicas_move_each_order_once(db: asyncpg.Connection) -> None:
    orders = await _created(60)
    # Two instances of the confirm function, each handed every step (in opposite orders).
    replicas = [status_advances.__wrapped__(OrderStatus.CONFIRMED) for _ in range(2)]
    steps = [_confirmed(order) for order in orders]
    first, second = await asyncio.gather(
        asyncio.gather(*(replicas[0].write(row) for row in steps)),
        asyncio.gather(*(replicas[1].write(row) for row in reversed(steps))),
    )
    assert [a + b for a, b in zip(first, reversed(second), strict=True)] == [1] * 60
    events = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE type = $1 AND order_id = ANY($2)",
        EventType.CONFIRMED,
        [order["id"] for order in orders],
    )
    assert events == 60
