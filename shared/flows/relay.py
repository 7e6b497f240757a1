"""The outbox relay: publish what the first try missed, re-drive orders that stalled.

Safe with several relays at once: each claims its rows with FOR UPDATE SKIP LOCKED and
publishes them before its transaction commits, so no row is published by two relays at once.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import asyncpg

from shared.domain.lifecycle import TRANSITIONS, OrderStatus
from shared.messaging.publisher import Publisher
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_UPKEEP_POSTPONED
from shared.settings import Settings
from shared.store import idempotency_keys, outbox, outbox_upkeep
from shared.store.db import Database, DatabaseUnavailable

BATCH = 500
# Rows one retention statement deletes: a sweep after a long pause catches up in short steps.
FORGET_BATCH = 5000
# The outbox's day partitions made ahead of their day (today's and this many more): a day of
# sweeps that fail still leaves its inserts a partition of their own.
PARTITION_DAYS_AHEAD = 3
log = logging.getLogger("orders.relay")


@dataclass(frozen=True)
class SweepReport:
    published: int
    redriven: int
    forgotten: int  # rows deleted one by one (the outbox's default partition, the keys aside)
    dropped: int  # the outbox's day partitions dropped whole
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


async def partition_upkeep(settings: Settings, database: Database) -> int:
    """The outbox's partitions made and dropped; how many dropped. Whatever stops it (a lock it
    could not have in time, or any other database error) postpones it to the next sweep and
    never the rest of this one: inserts never need it (the default partition takes them)."""
    try:
        async with database.connection() as conn:
            done = await outbox_upkeep.upkeep(
                conn, settings.outbox_retention_seconds, PARTITION_DAYS_AHEAD
            )
    except asyncpg.LockNotAvailableError:
        OUTBOX_UPKEEP_POSTPONED.labels("lock").inc()
        log.warning("relay: outbox partitions left for the next sweep (a lock was busy)")
        return 0
    except (asyncpg.PostgresError, DatabaseUnavailable) as error:
        OUTBOX_UPKEEP_POSTPONED.labels("error").inc()
        log.warning(
            "relay: outbox partitions left for the next sweep: %s: %s",
            type(error).__name__,
            error,
        )
        return 0
    if done.created or done.dropped:
        log.info("relay: outbox partitions created %s, dropped %s", done.created, done.dropped)
    if done.kept_events:
        # Unpublished, or of an order on its way: moved to the default partition.
        log.info("relay: %d events of dropped partitions kept", done.kept_events)
    return len(done.dropped)


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
    dropped = await partition_upkeep(settings, database)
    forgotten = await _until_short(FORGET_BATCH, forget_published)
    await _until_short(FORGET_BATCH, forget_keys)
    async with database.connection() as conn:
        backlog, oldest_age = await outbox.backlog(conn)
    OUTBOX_BACKLOG.set(backlog)
    OUTBOX_OLDEST_AGE.set(oldest_age)
    report = SweepReport(published, len(stalled), forgotten, dropped, backlog)
    if published or stalled or dropped:
        log.info("relay: %s", report)
    return report
