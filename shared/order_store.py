"""SQL for the orders and idempotency tables (columns as in `shared/models.py`).

Every write is one conditional statement, so two writers racing change a row once.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from shared import outbox
from shared.events import OrderEvent
from shared.lifecycle import EDITABLE_STATUSES, NEXT_STATUS, OrderStatus, previous_status
from shared.orders import IdempotencyKeyReused, Order, refuse_change
from shared.schemas import OrderIn

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
_COLUMNS = ", ".join(ORDER_COLUMNS)
_PLACEHOLDERS = ", ".join(f"${n}" for n in range(1, len(ORDER_COLUMNS) + 1))
_EDITABLE = list(EDITABLE_STATUSES)

INSERT_ORDER = f"INSERT INTO orders ({_COLUMNS}) VALUES ({_PLACEHOLDERS})"
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
  INSERT INTO orders ({_COLUMNS})
  SELECT {_AS_STORED} FROM unnest({_ARRAYS}) AS new ({_COLUMNS}))
{outbox.insert_event_sql(len(ORDER_COLUMNS) + 1, arrays=True)}"""
# `$n::text IS NULL OR customer_id = $n`: a caller scoped to a customer sees only its orders.
SELECT_ORDER = f"""
SELECT {_COLUMNS} FROM orders WHERE id = $1 AND ($2::text IS NULL OR customer_id = $2)"""
LIST_ORDERS = f"""
SELECT seq, {_COLUMNS} FROM orders
WHERE seq > $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR customer_id = $3)
ORDER BY seq LIMIT $4"""
SELECT_STATE = """
SELECT status, version FROM orders WHERE id = $1 AND ($2::text IS NULL OR customer_id = $2)"""
REPLACE_ORDER = f"""
UPDATE orders
SET customer_id = $2, items = $3, total_cents = $4, version = version + 1, updated_at = $5
WHERE id = $1 AND status = ANY($6::text[]) AND ($7::int[] IS NULL OR version = ANY($7))
  AND ($8::text IS NULL OR customer_id = $8)
RETURNING {_COLUMNS}"""
DELETE_ORDER = f"""
DELETE FROM orders WHERE id = $1 AND ($2::int[] IS NULL OR version = ANY($2))
  AND ($3::text IS NULL OR customer_id = $3)
RETURNING {_COLUMNS}"""
# One statement per status an order can reach, each stamping that status's own time column.
ADVANCE_STATUS = {
    reached: f"""
UPDATE orders
SET status = $3, version = version + 1, updated_at = $4, {reached.lower()}_at = $4
WHERE id = $1 AND status = $2
RETURNING {_COLUMNS}"""
    for reached in NEXT_STATUS.values()
}
# The step and the event announcing it in one statement, applied only while the order is at the
# version the triggering event showed (every change bumps the version, so the row is then
# exactly the event's order): one round trip instead of BEGIN, UPDATE, INSERT, COMMIT. The
# order's times are the event's ($8); its id is the event's order id ($5).
ADVANCE_ANNOUNCED = {
    reached: f"""
WITH moved AS (
  UPDATE orders
  SET status = $2, version = version + 1, updated_at = $8, {reached.lower()}_at = $8
  WHERE id = $5 AND status = $1 AND version = $3
  RETURNING id)
{outbox.insert_event_sql(4, from_rows="moved")}"""
    for reached in NEXT_STATUS.values()
}
# The same for many orders (one event each), the versions and events as arrays; returns the
# ids of the orders moved.
ADVANCE_ANNOUNCED_ORDERS = {
    reached: f"""
WITH announced AS (
  SELECT * FROM unnest($3::int[], {outbox.event_arrays_sql(4)})
    AS a (version, {outbox.COLUMNS})),
moved AS (
  UPDATE orders o
  SET status = $2, version = o.version + 1, updated_at = a.time, {reached.lower()}_at = a.time
  FROM announced a
  WHERE o.id = a.order_id AND o.status = $1 AND o.version = a.version
  RETURNING o.id)
INSERT INTO outbox ({outbox.COLUMNS})
SELECT {", ".join(f"a.{c}" for c in outbox.OUTBOX_COLUMNS)}
FROM announced a JOIN moved m ON m.id = a.order_id
RETURNING order_id"""
    for reached in NEXT_STATUS.values()
}
CLAIM_KEY = """
INSERT INTO idempotency_keys (key, request_hash, order_id, status_code, body, created_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING"""
SELECT_KEY = "SELECT request_hash, status_code, body FROM idempotency_keys WHERE key = $1"
FORGET_KEYS = """
DELETE FROM idempotency_keys WHERE key IN (
  SELECT key FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)"""


def _values(order: Order) -> list[Any]:
    return [order[column] for column in ORDER_COLUMNS]


async def insert_announced_order(conn: asyncpg.Connection, order: Order, event: OrderEvent) -> None:
    """The new order and the event announcing it, both or neither."""
    await conn.execute(INSERT_ANNOUNCED_ORDER, *_values(order), *outbox.event_values(event))


async def insert_announced_orders(
    conn: asyncpg.Connection, announced: Sequence[tuple[Order, OrderEvent]]
) -> list[UUID]:
    """New orders and the events announcing them, all or none; the ids of the orders. One
    order goes as one row: the arrays cost more than they save below two."""
    if len(announced) == 1:
        await insert_announced_order(conn, *announced[0])
        return [announced[0][0]["id"]]
    orders = [
        [orjson.dumps(order[c]).decode() if c == "items" else order[c] for c in ORDER_COLUMNS]
        for order, _ in announced
    ]
    events = [outbox.event_values(event) for _, event in announced]
    await conn.execute(
        INSERT_ANNOUNCED_ORDERS, *zip(*orders, strict=True), *zip(*events, strict=True)
    )
    return [order["id"] for order, _ in announced]


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


async def advance_status(
    conn: asyncpg.Connection,
    order_id: UUID,
    from_status: OrderStatus,
    to_status: OrderStatus,
    now: datetime,
) -> Order | None:
    """Move the order on if it is still at `from_status`; None if it is not (gone or moved)."""
    row = await conn.fetchrow(ADVANCE_STATUS[to_status], order_id, from_status, to_status, now)
    return dict(row) if row is not None else None


async def advance_announced(
    conn: asyncpg.Connection,
    from_status: OrderStatus,
    to_status: OrderStatus,
    version: int,
    event: OrderEvent,
) -> bool:
    """Move the order on and write `event`, if it is still at `from_status` and `version`."""
    status: str = await conn.execute(
        ADVANCE_ANNOUNCED[to_status], from_status, to_status, version, *outbox.event_values(event)
    )
    return status == "INSERT 0 1"


async def advance_announced_orders(
    conn: asyncpg.Connection, announced: Sequence[tuple[int, OrderEvent]], *, to_status: OrderStatus
) -> set[UUID]:
    """`advance_announced` for many (version, event) pairs, at most one per order, all or
    none; the ids of the orders moved. One pair goes as one row."""
    from_status = previous_status(to_status)
    if len(announced) == 1:
        version, event = announced[0]
        moved = await advance_announced(conn, from_status, to_status, version, event)
        return {event.order_id} if moved else set()
    events = [outbox.event_values(event) for _, event in announced]
    rows = await conn.fetch(
        ADVANCE_ANNOUNCED_ORDERS[to_status],
        from_status,
        to_status,
        [version for version, _ in announced],
        *zip(*events, strict=True),
    )
    return {row[0] for row in rows}


async def order_state(
    conn: asyncpg.Connection, order_id: UUID, customer: str | None = None
) -> tuple[str, int] | None:
    """(status, version) of the order, or None if there is no such order (for `customer`)."""
    row = await conn.fetchrow(SELECT_STATE, order_id, customer)
    return (row["status"], row["version"]) if row is not None else None


async def claim_idempotency_key(
    conn: asyncpg.Connection,
    key: str,
    request_hash: str,
    order_id: UUID,
    status_code: int,
    body: str,
    now: datetime,
) -> tuple[int, str] | None:
    """Claim `key` for this request; if an earlier request holds it, its (status, body).

    A concurrent holder makes this wait for that transaction, so the loser sees its answer.
    """
    status = await conn.execute(CLAIM_KEY, key, request_hash, order_id, status_code, body, now)
    if status.endswith(" 1"):
        return None
    row = await conn.fetchrow(SELECT_KEY, key)
    if row["request_hash"] != request_hash:
        raise IdempotencyKeyReused()
    return row["status_code"], row["body"]


async def forget_idempotency_keys(
    conn: asyncpg.Connection, older_than_seconds: float, limit: int
) -> int:
    status: str = await conn.execute(FORGET_KEYS, older_than_seconds, limit)
    return int(status.rsplit(" ", 1)[1])
