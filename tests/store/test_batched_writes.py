"""Concurrent writes sharing statements behind the store's one call per change (a create,
a step), against the real database."""

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from shared.domain.events import EventType, OrderEvent, order_event
from shared.domain.lifecycle import OrderStatus, transition_to
from shared.domain.orders import Order, Outcome, new_order, to_json
from shared.domain.schemas import LineItem, OrderIn
from shared.settings import get_settings
from shared.store import order_moves, order_store
from shared.store.db import Database, get_database
from shared.store.order_moves import Move, Moved

CONFIRM = transition_to(OrderStatus.CONFIRMED)


def _announced(customer: str) -> tuple[Order, OrderEvent]:
    now = datetime.now(UTC)
    body = OrderIn(customer_id=customer, items=[LineItem(sku="a", quantity=2, unit_price_cents=5)])
    order = new_order(body, now)
    return order, order_event(EventType.CREATED, order.id, to_json(order), now)


async def _create(announced: tuple[Order, OrderEvent]) -> None:
    assert await order_store.create_order(get_database(), *announced) is None


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
    announced = [_announced(f"c{n}") for n in range(150)]
    await asyncio.gather(*(_create(row) for row in announced))
    assert await _stored(db) == (150, 150, 150)
    rows = await db.fetch("SELECT id, customer_id, total_cents, version, status FROM orders")
    assert {(r["id"], r["customer_id"]) for r in rows} == {
        (o.id, o.customer_id) for o, _ in announced
    }
    assert {(r["total_cents"], r["version"], r["status"]) for r in rows} == {(10, 1, "CREATED")}


async def test_a_bad_row_fails_only_its_own_create(db: asyncpg.Connection) -> None:
    good = [_announced(f"good{n}") for n in range(5)]
    clash_order, clash_event = _announced("clash")
    # The same order id twice: the second row breaks the primary key, the statement fails whole.
    twin = (clash_order, order_event(EventType.CREATED, clash_order.id, b"{}", datetime.now(UTC)))
    results = await asyncio.gather(
        *(_create(row) for row in [*good[:2], (clash_order, clash_event), twin, *good[2:]]),
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
    # Hold the orders table so the first statement waits; the second caller gives up meanwhile.
    holder = await asyncpg.connect(database_url)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE orders IN EXCLUSIVE MODE")
    first = asyncio.create_task(_create(_announced("first")))
    await asyncio.sleep(0.2)
    gone = asyncio.create_task(_create(_announced("gone")))
    await asyncio.sleep(0.05)
    gone.cancel()
    await transaction.rollback()
    await holder.close()
    await first
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.sleep(0.2)
    assert await db.fetchval("SELECT array_agg(customer_id) FROM orders") == ["first"]


async def _created(count: int) -> list[Order]:
    announced = [_announced(f"step{n}") for n in range(count)]
    await asyncio.gather(*(_create(row) for row in announced))
    return [order for order, _ in announced]


async def _confirm(move: Move, database: Database | None = None) -> Moved:
    return await order_moves.advance(database or get_database(), CONFIRM, move)


async def test_concurrent_steps_move_each_order_once_and_announce_the_moved_row(
    db: asyncpg.Connection,
) -> None:
    orders = await _created(100)
    steps = [Move(order.id, None) for order in orders]
    # A duplicate delivery right behind each of the first 30 steps, and an order that is gone.
    arriving = [move for move in steps[:30] for _ in range(2)] + steps[30:]
    arriving.append(Move(uuid.uuid4(), None))
    written = await asyncio.gather(*(_confirm(move) for move in arriving))
    outcomes = [moved.outcome for moved in written]
    assert outcomes.count(Outcome.APPLIED) == 100
    assert outcomes.count(Outcome.DUPLICATE) == 30
    assert outcomes[-1] is Outcome.OBSOLETE
    moved = [written.event for written in written if written.event is not None]
    assert sorted(event.order_id for event in moved) == sorted(order.id for order in orders)
    rows = await db.fetch(
        "SELECT o.id, o.status, o.version, o.updated_at, o.confirmed_at, e.id AS event, e.time,"
        " e.data FROM orders o JOIN outbox e ON e.order_id = o.id AND e.type = $1",
        EventType.CONFIRMED,
    )
    assert len(rows) == 100
    by_order = {row["id"]: row for row in rows}
    for event in moved:
        row = by_order[event.order_id]
        assert (row["status"], row["version"], row["event"]) == ("CONFIRMED", 2, event.id)
        assert row["updated_at"] == row["confirmed_at"] == row["time"] == event.time
        assert row["data"] == event.data
        shown = orjson.loads(event.data)
        assert (shown["status"], shown["version"]) == ("CONFIRMED", 2)
        assert datetime.fromisoformat(shown["confirmed_at"]) == event.time
    # The event's data is the moved order's JSON, byte for byte.
    async with get_database().connection() as conn:
        order = await order_store.get_order(conn, moved[0].order_id)
    assert order is not None
    assert to_json(order) == moved[0].data


async def test_a_bad_row_fails_only_its_own_step(db: asyncpg.Connection) -> None:
    orders = await _created(6)
    # Moving the sixth order breaks a constraint: the shared write fails whole and is retried
    # row by row.
    await db.execute(
        "ALTER TABLE orders ADD CONSTRAINT ck_test_not_c5"
        " CHECK (customer_id <> 'step5' OR status = 'CREATED')"
    )
    try:
        results = await asyncio.gather(
            *(_confirm(Move(order.id, None)) for order in orders),
            return_exceptions=True,
        )
    finally:
        await db.execute("ALTER TABLE orders DROP CONSTRAINT ck_test_not_c5")
    assert [isinstance(r, Moved) and r.outcome for r in results] == [Outcome.APPLIED] * 5 + [False]
    assert isinstance(results[5], asyncpg.CheckViolationError)
    statuses = await db.fetch(
        "SELECT customer_id, status FROM orders WHERE id = ANY($1)", [o.id for o in orders]
    )
    assert {row["customer_id"]: row["status"] for row in statuses} == {
        f"step{n}": "CREATED" if n == 5 else "CONFIRMED" for n in range(6)
    }


async def test_racing_replicas_move_each_order_once(db: asyncpg.Connection) -> None:
    orders = await _created(60)
    # Two instances of the confirm function (a pool each), each handed every step (in opposite
    # orders).
    replicas = [Database(get_settings()) for _ in range(2)]
    steps = [Move(order.id, None) for order in orders]
    try:
        first, second = await asyncio.gather(
            asyncio.gather(*(_confirm(move, replicas[0]) for move in steps)),
            asyncio.gather(*(_confirm(move, replicas[1]) for move in reversed(steps))),
        )
    finally:
        for replica in replicas:
            await replica.close()
    moved = [sorted([a.outcome, b.outcome]) for a, b in zip(first, reversed(second), strict=True)]
    assert moved == [[Outcome.APPLIED, Outcome.DUPLICATE]] * 60
    events = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE type = $1 AND order_id = ANY($2)",
        EventType.CONFIRMED,
        [order.id for order in orders],
    )
    assert events == 60
