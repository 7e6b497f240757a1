"""SQL for creating, reading, listing, replacing and deleting orders (columns as in
`shared/store/models.py`; moving an order on is `shared/store/order_moves.py`).

Every write is one conditional statement, so two writers racing change a row once.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from shared.domain.events import OrderEvent
from shared.domain.lifecycle import EDITABLE_STATUSES
from shared.domain.orders import Order, refuse_change
from shared.domain.schemas import OrderIn
from shared.store import outbox

ORDER_COLUMNS = (
    "id",
    "customer_id",
    "items",
    "total_cents",
    "status",
    "version",
    "created_at",
    "updated_at",
    "confirmed_at",
    "shipped_at",
)
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
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "confirmed_at": "timestamptz",
    "shipped_at": "timestamptz",
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


def _values(order: Order) -> list[Any]:
    return [order[column] for column in ORDER_COLUMNS]


async def insert_announced_order(conn: asyncpg.Connection, order: Order, event: OrderEvent) -> None:
    """The new order and the event announcing it, both or neither."""
    await conn.execute(INSERT_ANNOUNCED_ORDER, *_values(order), *outbox.event_values(event))


async def insert_announced_orders(
    conn: asyncpg.Connection, announced: Sequence[tuple[Order, OrderEvent]]
) -> Mapping[UUID, OrderEvent]:
    """New orders and the events announcing them, all or none; the events by order id. One
    order goes as one row: the arrays cost more than they save below two."""
    if len(announced) == 1:
        await insert_announced_order(conn, *announced[0])
        return {event.order_id: event for _, event in announced}
    orders = [
        [orjson.dumps(order[c]).decode() if c == "items" else order[c] for c in ORDER_COLUMNS]
        for order, _ in announced
    ]
    events = [outbox.event_values(event) for _, event in announced]
    await conn.execute(
        INSERT_ANNOUNCED_ORDERS, *zip(*orders, strict=True), *zip(*events, strict=True)
    )
    return {event.order_id: event for _, event in announced}


async def get_order(
    conn: asyncpg.Connection, order_id: UUID, customer: str | None = None
) -> Order | None:
    row = await conn.fetchrow(SELECT_ORDER, order_id, customer)
    return dict(row) if row is not None else None


async def list_orders(
    conn: asyncpg.Connection,
    *,
    after_seq: int,
    limit: int,
    status: str | None,
    customer_id: str | None,
) -> tuple[list[Order], int | None]:
    """One page in insertion order, and the `seq` to continue after (None on the last page)."""
    rows = await conn.fetch(
        LIST_ORDERS,
        after_seq,
        status,
        customer_id,
        limit + 1,
    )
    page = [dict(row) for row in rows[:limit]]
    next_seq: int | None = page[-1]["seq"] if len(rows) > limit else None
    for order in page:
        del order["seq"]
    return page, next_seq


async def replace_order(
    conn: asyncpg.Connection,
    order_id: UUID,
    body: OrderIn,
    expected_versions: list[int] | None,
    now: datetime,
    customer: str | None = None,
) -> Order:
    items = [item.model_dump() for item in body.items]
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
    return dict(row)


async def delete_order(
    conn: asyncpg.Connection,
    order_id: UUID,
    expected_versions: list[int] | None,
    customer: str | None = None,
) -> Order:
    row = await conn.fetchrow(DELETE_ORDER, order_id, expected_versions, customer)
    if row is None:
        state = await order_state(conn, order_id, customer)
        raise refuse_change(order_id, state, expected_versions, edit=False)
    return dict(row)


async def order_state(
    conn: asyncpg.Connection, order_id: UUID, customer: str | None = None
) -> tuple[str, int] | None:
    """(status, version) of the order, or None if there is no such order (for `customer`)."""
    row = await conn.fetchrow(SELECT_STATE, order_id, customer)
    return (row["status"], row["version"]) if row is not None else None
