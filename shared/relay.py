"""The outbox relay: publish what the first try missed, re-drive orders that stalled.

Safe with several relays at once: each claims its rows with FOR UPDATE SKIP LOCKED and
publishes them before its transaction commits, so no row is published by two relays at once.
"""

import logging
from dataclasses import dataclass

from shared import order_store, outbox
from shared.db import Database
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from shared.publisher import Publisher
from shared.settings import Settings

BATCH = 500
log = logging.getLogger("orders.relay")


@dataclass(frozen=True)
class SweepReport:
    published: int
    redriven: int
    forgotten: int
    backlog: int


def overdue_after(settings: Settings) -> tuple[float, float]:
    """How old the driving event of a CREATED / CONFIRMED order may grow before a re-drive."""
    grace = settings.relay_overdue_seconds
    return settings.confirm_delay_seconds + grace, settings.ship_delay_seconds + grace


async def sweep(
    settings: Settings,
    database: Database,
    publisher: Publisher,
    redrive_after: tuple[float, float],
) -> SweepReport:
    published = 0
    while True:
        async with database.transaction() as conn:
            events = await outbox.claim_unpublished(conn, settings.relay_min_age_seconds, BATCH)
            if events:
                await publisher.publish(events, conn)
        published += len(events)
        if len(events) < BATCH:
            break
    async with database.connection() as conn:
        stalled = await outbox.driving_events(conn, *redrive_after)
    if stalled:
        # Handlers are idempotent: re-sending the event of an order that is merely slow is harmless.
        await publisher.publish(stalled)
    async with database.connection() as conn:
        forgotten = await outbox.forget_published(conn, settings.outbox_retention_seconds)
        await order_store.forget_idempotency_keys(conn, settings.idempotency_retention_seconds)
        backlog, oldest_age = await outbox.backlog(conn)
    OUTBOX_BACKLOG.set(backlog)
    OUTBOX_OLDEST_AGE.set(oldest_age)
    report = SweepReport(published, len(stalled), forgotten, backlog)
    if published or stalled:
        log.info("relay: %s", report)
    return report
