"""SQL for the outbox table (columns as in `shared/store/models.py`)."""

from collections.abc import Mapping, Sequence
from uuid import UUID

import asyncpg

from shared.domain.events import OrderEvent
from shared.domain.lifecycle import IN_FLIGHT, TRANSITIONS, OrderStatus, sql_literals
from shared.store.outbox_partitions import DEFAULT

OUTBOX_COLUMNS = ("id", "order_id", "type", "source", "time", "data", "traceparent")
COLUMNS = ", ".join(OUTBOX_COLUMNS)


# Column types, for the arrays' form, where PostgreSQL cannot infer them.
_TYPES = ("uuid", "uuid", "text", "text", "timestamptz", "bytea", "text")


def event_arrays_sql(first_placeholder: int) -> str:
    """The placeholders from `first_placeholder` on, each an array of one column of events."""
    numbers = range(first_placeholder, first_placeholder + len(OUTBOX_COLUMNS))
    return ", ".join(f"${n}::{kind}[]" for n, kind in zip(numbers, _TYPES, strict=True))


def insert_event_sql(first_placeholder: int = 1, *, arrays: bool = False) -> str:
    """INSERT of one event whose values are the placeholders from `first_placeholder` on; with
    `arrays`, each placeholder is an array holding that column of many events (for one event,
    the plain form is the cheaper)."""
    if arrays:
        columns = event_arrays_sql(first_placeholder)
        return f"INSERT INTO outbox ({COLUMNS}) SELECT * FROM unnest({columns})"
    numbers = range(first_placeholder, first_placeholder + len(OUTBOX_COLUMNS))
    values = ", ".join(f"${n}" for n in numbers)
    return f"INSERT INTO outbox ({COLUMNS}) VALUES ({values})"


INSERT_EVENT = insert_event_sql()
MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::uuid[])"
CLAIM_UNPUBLISHED = f"""
SELECT {COLUMNS} FROM outbox
WHERE published_at IS NULL AND time < now() - make_interval(secs => $1)
ORDER BY seq LIMIT $2
FOR UPDATE SKIP LOCKED"""
# The event that drives each in-flight order's next step (the one announcing its status), for
# orders whose step is overdue: one condition per step, its overdue age a placeholder ($1...).
_OVERDUE = "\n   OR ".join(
    f"(o.status = '{step.leaves}' AND e.type = '{step.accepts}'"
    f"\n       AND e.time < now() - make_interval(secs => ${n}))"
    for n, step in enumerate(TRANSITIONS, 1)
)
# From the orders on their way (few, found by their status) to each one's newest driving event
# by its order id: LATERAL keeps that plan however large the outbox grows, where a join let the
# planner scan every old event through `ix_outbox_time` (tests/store/test_redrive_plan.py).
DRIVING_EVENTS = f"""
SELECT {", ".join(f"e.{c}" for c in OUTBOX_COLUMNS)}
FROM orders o CROSS JOIN LATERAL (
  SELECT * FROM outbox e
  WHERE e.order_id = o.id AND ({_OVERDUE})
  ORDER BY e.seq DESC LIMIT 1) e
WHERE o.status IN ({sql_literals(IN_FLIGHT)})
ORDER BY e.order_id"""
BACKLOG = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(time)), 0)::float8
FROM outbox WHERE published_at IS NULL"""
# Up to $2 events published more than $1 seconds ago, except those of in-flight orders (the relay
# re-drives an order from its last event). `time` is implied (an event is published after its
# time) and lets the index find the old rows. Only in the default partition: the day partitions
# go whole (`outbox_upkeep`); the default holds the ids no day covers (UUIDv4, days upkeep had
# not made) and the events kept from dropped days, a few rows, not a day's.
FORGET_PUBLISHED = f"""
DELETE FROM {DEFAULT} WHERE id IN (
  SELECT e.id FROM {DEFAULT} e
  WHERE e.time < now() - make_interval(secs => $1)
    AND e.published_at < now() - make_interval(secs => $1)
    AND NOT EXISTS (
      SELECT 1 FROM orders o WHERE o.id = e.order_id AND o.status IN ({sql_literals(IN_FLIGHT)}))
  LIMIT $2)"""


def event_values(event: OrderEvent) -> list[object]:
    return [getattr(event, column) for column in OUTBOX_COLUMNS]


async def add_event(conn: asyncpg.Connection, event: OrderEvent) -> None:
    await conn.execute(INSERT_EVENT, *event_values(event))


async def mark_published(conn: asyncpg.Connection, event_ids: Sequence[UUID]) -> None:
    await conn.execute(MARK_PUBLISHED, list(event_ids))


async def claim_unpublished(
    conn: asyncpg.Connection, older_than_seconds: float, limit: int
) -> list[OrderEvent]:
    """Unpublished events, locked for this transaction; rows another relay holds are skipped."""
    rows = await conn.fetch(CLAIM_UNPUBLISHED, older_than_seconds, limit)
    return [OrderEvent(**row) for row in rows]


async def driving_events(
    conn: asyncpg.Connection, overdue_after: Mapping[OrderStatus, float]
) -> list[OrderEvent]:
    """The driving event of each order on its way whose event is older than `overdue_after`
    gives for its status."""
    overdue = [overdue_after[step.leaves] for step in TRANSITIONS]
    rows = await conn.fetch(DRIVING_EVENTS, *overdue)
    return [OrderEvent(**row) for row in rows]


async def backlog(conn: asyncpg.Connection) -> tuple[int, float]:
    """(unpublished events, age in seconds of the oldest)."""
    row = await conn.fetchrow(BACKLOG)
    return row[0], row[1]


async def forget_published(conn: asyncpg.Connection, older_than_seconds: float, limit: int) -> int:
    status: str = await conn.execute(FORGET_PUBLISHED, older_than_seconds, limit)
    return int(status.rsplit(" ", 1)[1])
