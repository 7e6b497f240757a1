"""The store's call for one lifecycle step: move an order on to its next status (columns as in
`shared/store/models.py`).

Each move is conditional on the status it leaves, so duplicates, replays and racing replicas
move an order once. The event announcing a move is built from the row the move returned, never
from the event that asked for it: an event says only what the database holds. Concurrent moves
of one step share one transaction (`shared/store/batched_writes.py`), which no caller sees.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import NamedTuple
from uuid import UUID

import asyncpg

from shared.domain.events import OrderEvent, order_event
from shared.domain.lifecycle import TRANSITIONS, Transition
from shared.domain.orders import Outcome, to_json
from shared.store import outbox
from shared.store.batched_writes import BatchedWrites
from shared.store.db import Database
from shared.store.order_store import COLUMNS

# One statement per step, each stamping the time column of the status it reaches.
ADVANCE_ORDERS = {
    step: f"""
UPDATE orders
SET status = $2, version = version + 1, updated_at = $3, {step.reaching.time_column} = $3
WHERE id = ANY($4::uuid[]) AND status = $1
RETURNING {COLUMNS}"""
    for step in TRANSITIONS
}
# Of the orders a step did not move, those still there (already moved: a duplicate).
EXISTING = "SELECT id FROM orders WHERE id = ANY($1::uuid[])"
INSERT_EVENTS = outbox.insert_event_sql(arrays=True)


class Move(NamedTuple):
    """A step asked for by an event: the order to move, and the trace to carry on."""

    order_id: UUID
    traceparent: str | None


class Moved(NamedTuple):
    """What a step came to; the event announcing the move when it was applied."""

    outcome: Outcome
    event: OrderEvent | None = None


async def advance(database: Database, step: Transition, move: Move) -> Moved:
    """Move the order on by `step` if it is still at the status the step leaves, and write the
    event announcing the move, in one transaction: applied (with the event), duplicate (the
    order is past that status) or obsolete (the order is gone)."""
    moved = await _advances(database, step).write(move)
    return moved if moved is not None else Moved(Outcome.OBSOLETE)


async def _advance_orders(
    conn: asyncpg.Connection, moves: Sequence[Move], *, step: Transition
) -> Mapping[UUID, Moved]:
    """Move each order still at the status `step` leaves, and write the event announcing each
    move, all in one transaction; what came of each move, by order id."""
    now = datetime.now(UTC)
    traces = {move.order_id: move.traceparent for move in moves}
    async with conn.transaction():
        rows = await conn.fetch(ADVANCE_ORDERS[step], step.leaves, step.reaches, now, list(traces))
        # The moved row as JSON is the order's (`to_json(order_of(row))`, as a test checks) at
        # a ninth of the CPU: this is the hottest path.
        events = {
            row["id"]: order_event(
                step.announces, row["id"], to_json(dict(row)), now, traces[row["id"]]
            )
            for row in rows
        }
        if len(events) == 1:
            await outbox.add_event(conn, *events.values())
        elif events:
            values = [outbox.event_values(event) for event in events.values()]
            await conn.execute(INSERT_EVENTS, *zip(*values, strict=True))
    moved = {order_id: Moved(Outcome.APPLIED, event) for order_id, event in events.items()}
    unmoved = [order_id for order_id in traces if order_id not in events]
    if unmoved:
        still_there = {row["id"] for row in await conn.fetch(EXISTING, unmoved)}
        for order_id in unmoved:
            moved[order_id] = Moved(
                Outcome.DUPLICATE if order_id in still_there else Outcome.OBSOLETE
            )
    return moved


def _moved_order(move: Move) -> UUID:
    return move.order_id


@lru_cache
def _advances(database: Database, step: Transition) -> BatchedWrites[Move, Moved]:
    """The moves of `step` on `database`: concurrent ones share one transaction."""
    return BatchedWrites(database, partial(_advance_orders, step=step), _moved_order)
