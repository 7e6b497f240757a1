"""The outbox relay: publish what the first try missed, re-drive orders that stalled.

Safe with several relays at once: each claims its rows with FOR UPDATE SKIP LOCKED and
publishes them before its transaction commits, so no row is published by two relays at once.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from shared.domain.lifecycle import TRANSITIONS, OrderStatus
from shared.messaging.publisher import Publisher
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from shared.settings import Settings
from shared.store import idempotency_keys, outbox
from shared.store.db import Database

BATCH = 500
# Rows one retention statement deletes: a sweep after a long pause catches up in short steps.
FORGET_BATCH = 5000
log = logging.getLogger("orders.relay")


@dataclass(frozen=True)
class SweepReport:
    published: int
    redriven: int
    forgotten: int
    backlog: int


def overdue_after(settings: Settings) -> dict[OrderStatus, float]:
    """How old the driving event of an order on its way (by status) may grow before a re-drive:
    its next step's delay and the grace."""
    grace = settings.relay_overdue_seconds
    return {step.leaves: step.delay(settings) + grace for step in TRANSITIONS}


async def _until_short(batch: int, step: Callable[[], Awaitable[int]]) -> int:
    """Run `step` (which handles up to `batch` rows) until it handles fewer; the rows handled."""
    total = 0
    while True:
        handled = await step()
        total += handled
        if handled < batch:
            return total


async def sweep(
    settings: Settings,
    database: Database,
    publisher: Publisher,
    redrive_after: Mapping[OrderStatus, float],
) -> SweepReport:
    async def publish_unpublished() -> int:
        async with database.transaction() as conn:
            events = await outbox.claim_unpublished(conn, settings.relay_min_age_seconds, BATCH)
            if events:
                await publisher.publish(events, conn)
        return len(events)

    async def forget_published() -> int:
        async with database.connection() as conn:
            return await outbox.forget_published(
                conn, settings.outbox_retention_seconds, FORGET_BATCH
            )

    async def forget_keys() -> int:
        async with database.connection() as conn:
            return await idempotency_keys.forget(
                conn, settings.idempotency_retention_seconds, FORGET_BATCH
            )

    published = await _until_short(BATCH, publish_unpublished)
    async with database.connection() as conn:
        stalled = await outbox.driving_events(conn, redrive_after)
    if stalled:
        # Handlers are idempotent: re-sending the event of an order that is merely slow is harmless.
        await publisher.publish(stalled)
    forgotten = await _until_short(FORGET_BATCH, forget_published)
    await _until_short(FORGET_BATCH, forget_keys)
    async with database.connection() as conn:
        backlog, oldest_age = await outbox.backlog(conn)
    OUTBOX_BACKLOG.set(backlog)
    OUTBOX_OLDEST_AGE.set(oldest_age)
    report = SweepReport(published, len(stalled), forgotten, backlog)
    if published or stalled:
        log.info("relay: %s", report)
    return report
