"""SQL for moving orders on to their next status (columns as in `shared/store/models.py`).

Each move is conditional on the status it leaves, so duplicates, replays and racing replicas
move an order once. The event announcing a move is built from the row the move returned, never
from the event that asked for it: an event says only what the database holds.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

import asyncpg

from shared.domain.events import EventType, OrderEvent, order_event
from shared.domain.lifecycle import NEXT_STATUS, OrderStatus, previous_status
from shared.domain.orders import to_json
from shared.store import outbox
from shared.store.order_store import COLUMNS

# One statement per status an order can reach, each stamping that status's own time column.
ADVANCE_ORDERS = {
    reached: f"""
UPDATE orders
SET status = $2, version = version + 1, updated_at = $3, {reached.lower()}_at = $3
WHERE id = ANY($4::uuid[]) AND status = $1
RETURNING {COLUMNS}"""
    for reached in NEXT_STATUS.values()
}
INSERT_EVENTS = outbox.insert_event_sql(arrays=True)


class Move(NamedTuple):
    """A step asked for by an event: the order to move, and the trace to carry on."""

    order_id: UUID
    traceparent: str | None


async def advance_orders(
    conn: asyncpg.Connection,
    moves: Sequence[Move],
    *,
    to_status: OrderStatus,
    announces: EventType,
) -> Mapping[UUID, OrderEvent]:
    """Move each order still at the status before `to_status`, and write the event announcing
    each move, all in one transaction; the events written, by order id (orders gone or already
    moved have none)."""
    now = datetime.now(UTC)
    traces = {move.order_id: move.traceparent for move in moves}
    async with conn.transaction():
        rows = await conn.fetch(
            ADVANCE_ORDERS[to_status],
            previous_status(to_status),
            to_status,
            now,
            list(traces),
        )
        events = {
            row["id"]: order_event(announces, row["id"], to_json(dict(row)), now, traces[row["id"]])
            for row in rows
        }
        if len(events) == 1:
            await outbox.add_event(conn, *events.values())
        elif events:
            values = [outbox.event_values(event) for event in events.values()]
            await conn.execute(INSERT_EVENTS, *zip(*values, strict=True))
    return events
