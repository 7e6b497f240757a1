"""The store's calls for creating, reading, listing, replacing and deleting orders (columns as in
`shared/store/models.py`; moving an order on is `shared/store/order_moves.py`).

Each state change is one call here, which writes the change and the event announcing it in one
transaction and answers what the caller then publishes; how it is written (concurrent creates
share a statement: `shared/store/batched_writes.py`) is this module's business. Every write is one
conditional statement, so two writers racing change a row once.
"""

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple
from uuid import UUID

import asyncpg
import orjson

from shared.domain.events import EventType, OrderEvent, order_event
from shared.domain.lifecycle import EDITABLE_STATUSES, TIME_COLUMNS, OrderStatus
from shared.domain.orders import Order, refuse_change, to_json
from shared.domain.schemas import OrderIn
from shared.store import idempotency_keys, outbox
from shared.store.batched_writes import BatchedWrites
from shared.store.db import Database
from shared.store.idempotency_keys import KeyClaim

# The order's fields are the table's columns (but `seq`, the table's own).
ORDER_COLUMNS = tuple(field.name for field in fields(Order))
COLUMNS = ", ".join(ORDER_COLUMNS)
_PLACEHOLDERS = ", ".join(f"${n}" for n in range(1, len(ORDER_COLUMNS) + 1))
_EDITABLE = list(EDITABLE_STATUSES)

INSERT_ORDER = f"INSERT INTO orders ({COLUMNS}) VALUES ({_PLACEHOLDERS})"
# The order and its created event in one statement: atomic on its own, one round trip.
INSERT_ANNOUNCED_ORDER = (
    f"WITH created AS ({INSERT_ORDER}) {outbox.insert_event_sql(len(ORDER_COLUMNS) + 1)}"
)
# Many orders and their events in one statement, each column an array. `items` travels as JSON
# text: asyncpg would read a list of lists as a two-dimensional array.
_ARRAY_TYPES = {
    "id": "uuid",
    "customer_id": "text",
    "items": "text",
    "total_cents": "bigint",
    "status": "text",
    "version": "int",
    "updated_at": "timestamptz",
    **dict.fromkeys(TIME_COLUMNS, "timestamptz"),
}
_ARRAYS = ", ".join(f"${n}::{_ARRAY_TYPES[c]}[]" for n, c in enumerate(ORDER_COLUMNS, 1))
_AS_STORED = ", ".join(f"{c}::jsonb" if c == "items" else c for c in ORDER_COLUMNS)
INSERT_ANNOUNCED_ORDERS = f"""
WITH created AS (
  INSERT INTO orders ({COLUMNS})
  SELECT {_AS_STORED} FROM unnest({_ARRAYS}) AS new ({COLUMNS}))
{outbox.insert_event_sql(len(ORDER_COLUMNS) + 1, arrays=True)}"""
# `$n::text IS NULL OR customer_id = $n`: a caller scoped to a customer sees only its orders.
SELECT_ORDER = f"""
SELECT {COLUMNS} FROM orders WHERE id = $1 AND ($2::text IS NULL OR customer_id = $2)"""
LIST_ORDERS = f"""
SELECT seq, {COLUMNS} FROM orders
WHERE seq > $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR customer_id = $3)
ORDER BY seq LIMIT $4"""
SELECT_STATE = """
SELECT status, version FROM orders WHERE id = $1 AND ($2::text IS NULL OR customer_id = $2)"""
REPLACE_ORDER = f"""
UPDATE orders
SET customer_id = $2, items = $3, total_cents = $4, version = version + 1, updated_at = $5
WHERE id = $1 AND status = ANY($6::text[]) AND ($7::int[] IS NULL OR version = ANY($7))
  AND ($8::text IS NULL OR customer_id = $8)
RETURNING {COLUMNS}"""
DELETE_ORDER = f"""
DELETE FROM orders WHERE id = $1 AND ($2::int[] IS NULL OR version = ANY($2))
  AND ($3::text IS NULL OR customer_id = $3)
RETURNING {COLUMNS}"""

_values = attrgetter(*ORDER_COLUMNS)
_ITEMS = ORDER_COLUMNS.index("items")
_STATUS = ORDER_COLUMNS.index("status")


class Changed(NamedTuple):
    """An order as a change left it, and the event announcing the change (written, not yet
    published)."""

    order: Order
    event: OrderEvent


def order_of(row: asyncpg.Record) -> Order:
    """The order a row of `ORDER_COLUMNS` holds."""
    values = [row[column] for column in ORDER_COLUMNS]
    values[_ITEMS] = tuple(values[_ITEMS])
    values[_STATUS] = OrderStatus(values[_STATUS])
    return Order(*values)


async def create_order(
    database: Database, order: Order, event: OrderEvent, claim: KeyClaim | None = None
) -> idempotency_keys.Answer | None:
    """Store the new order and the event announcing it, both or neither. With a `claim` on an
    Idempotency-Key, in the same transaction; if an earlier request holds the key, nothing is
    written and its answer is returned."""
    if claim is None:
        await _inserts(database).write((order, event))
        return None
    async with database.transaction() as conn:
        earlier = await idempotency_keys.claim(conn, claim, order.id, order.created_at)
        if earlier is None:
            await _insert_announced_order(conn, order, event)
        return earlier


async def get_order(
    conn: asyncpg.Connection, order_id: UUID, customer: str | None = None
) -> Order | None:
    row = await conn.fetchrow(SELECT_ORDER, order_id, customer)
    return order_of(row) if row is not None else None


async def list_orders(
    conn: asyncpg.Connection,
    *,
    after_seq: int,
    limit: int,
    status: str | None,
    customer_id: str | None,
) -> tuple[list[Order], int | None]:
    """One page in insertion order, and the `seq` to continue after (None on the last page)."""
    rows = await conn.fetch(LIST_ORDERS, after_seq, status, customer_id, limit + 1)
    page = rows[:limit]
    next_seq: int | None = page[-1]["seq"] if len(rows) > limit else None
    return [order_of(row) for row in page], next_seq


async def replace_order(
    database: Database,
    order_id: UUID,
    body: OrderIn,
    expected_versions: list[int] | None,
    now: datetime,
    *,
    customer: str | None = None,
    traceparent: str | None = None,
) -> Changed:
    """Replace the order's fields from `body` while it is editable (and at one of
    `expected_versions`, and `customer`'s), with its updated event; else the reason why not."""
    items = [item.model_dump() for item in body.items]
    async with database.transaction() as conn:
        row = await conn.fetchrow(
            REPLACE_ORDER,
            order_id,
            body.customer_id,
            items,
            body.total_cents,
            now,
            _EDITABLE,
            expected_versions,
            customer,
        )
        if row is None:
            state = await order_state(conn, order_id, customer)
            raise refuse_change(order_id, state, expected_versions, edit=True)
        return await _announced(conn, order_of(row), EventType.UPDATED, now, traceparent)


async def delete_order(
    database: Database,
    order_id: UUID,
    expected_versions: list[int] | None,
    now: datetime,
    *,
    customer: str | None = None,
    traceparent: str | None = None,
) -> Changed:
    """Delete the order (at one of `expected_versions`, and `customer`'s), with its deleted
    event, whose data is the order as it was; else the reason why not."""
    async with database.transaction() as conn:
        row = await conn.fetchrow(DELETE_ORDER, order_id, expected_versions, customer)
        if row is None:
            state = await order_state(conn, order_id, customer)
            raise refuse_change(order_id, state, expected_versions, edit=False)
        return await _announced(conn, order_of(row), EventType.DELETED, now, traceparent)


async def order_state(
    conn: asyncpg.Connection, order_id: UUID, customer: str | None = None
) -> tuple[str, int] | None:
    """(status, version) of the order, or None if there is no such order (for `customer`)."""
    row = await conn.fetchrow(SELECT_STATE, order_id, customer)
    return (row["status"], row["version"]) if row is not None else None


async def _announced(
    conn: asyncpg.Connection,
    order: Order,
    event_type: EventType,
    now: datetime,
    traceparent: str | None,
) -> Changed:
    event = order_event(event_type, order.id, to_json(order), now, traceparent)
    await outbox.add_event(conn, event)
    return Changed(order, event)


async def _insert_announced_order(
    conn: asyncpg.Connection, order: Order, event: OrderEvent
) -> None:
    """The new order and the event announcing it, both or neither."""
    await conn.execute(INSERT_ANNOUNCED_ORDER, *_values(order), *outbox.event_values(event))


async def _insert_announced_orders(
    conn: asyncpg.Connection, announced: Sequence[tuple[Order, OrderEvent]]
) -> Mapping[UUID, OrderEvent]:
    """New orders and the events announcing them, all or none; the events by order id. One
    order goes as one row: the arrays cost more than they save below two."""
    if len(announced) == 1:
        await _insert_announced_order(conn, *announced[0])
        return {event.order_id: event for _, event in announced}
    orders = [_array_values(order) for order, _ in announced]
    events = [outbox.event_values(event) for _, event in announced]
    await conn.execute(
        INSERT_ANNOUNCED_ORDERS, *zip(*orders, strict=True), *zip(*events, strict=True)
    )
    return {event.order_id: event for _, event in announced}


def _array_values(order: Order) -> list[object]:
    values: list[object] = list(_values(order))
    values[_ITEMS] = orjson.dumps(order.items).decode()
    return values


def _event_order(row: tuple[Order, OrderEvent]) -> UUID:
    return row[1].order_id


@lru_cache
def _inserts(database: Database) -> BatchedWrites[tuple[Order, OrderEvent], OrderEvent]:
    """The creates on `database`: concurrent ones share one statement."""
    return BatchedWrites(database, _insert_announced_orders, _event_order)
