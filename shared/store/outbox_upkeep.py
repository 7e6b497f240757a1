"""The outbox's partitions kept up: the coming days created ahead, expired days dropped whole.

A day's partition goes once every id it may hold is older than the retention: a DROP, whatever
the rows, instead of a DELETE and its WAL and vacuum per row. Rows the relay still needs are
kept first: an unpublished event (to publish) and every event of an order on its way (the
re-drive re-publishes its newest driving event, with the same id) move to the default
partition, where the row-by-row retention (`outbox.forget_published`) takes them later.

Each drop and each create is a transaction of its own, under an advisory lock held for that
transaction, so several relays at once do each once. Each lock it waits for is bounded
(`lock_timeout`): a DETACH waits for the relay's claims, and while it waits, and while its
transaction copies out the kept events, every statement on the outbox queues behind it; so a
busy outbox postpones the upkeep to the next sweep after at most that long.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

import asyncpg

from shared.domain.lifecycle import IN_FLIGHT, sql_literals
from shared.store.outbox_partitions import (
    DEFAULT,
    PARENT,
    Partition,
    bound,
    day_name,
    day_of,
    missing_days,
    parse,
)

# Any fixed number: the relays' lock on the upkeep ("outbox" in ASCII).
LOCK_KEY = 0x6F7574626F78
# A postponed upkeep runs at the next sweep, a minute later: better than inserts kept waiting.
LOCK_TIMEOUT = "100ms"
PARTITIONS = f"""
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = '{PARENT}'::regclass"""
_COLUMNS = "id, seq, order_id, type, source, time, data, traceparent, published_at"
# What must outlive a dropped partition: found through its indexes (the unpublished ones, and
# the orders on their way by status, then each one's events by order id: LATERAL keeps that
# plan), not by reading it all.
_KEPT = """
SELECT {columns} FROM {table} WHERE published_at IS NULL
UNION
SELECT e.* FROM orders o CROSS JOIN LATERAL (
  SELECT {columns} FROM {table} WHERE order_id = o.id) e
WHERE o.status IN ({in_flight})"""


def kept_sql(table: str) -> str:
    """The events of partition `table` that must outlive it."""
    return _KEPT.format(columns=_COLUMNS, table=table, in_flight=sql_literals(IN_FLIGHT))


@dataclass
class Upkeep:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    kept_events: int = 0  # moved from dropped partitions to the default one
    skipped: bool = False  # another relay holds the lock


async def partitions(conn: asyncpg.Connection) -> list[Partition]:
    """The outbox's range partitions (the default one aside)."""
    found = (parse(name, spec) for name, spec in await conn.fetch(PARTITIONS))
    return [p for p in found if p is not None]


async def create_day(conn: asyncpg.Connection, day: date) -> str:
    """The partition of `day`, taking over the rows of that day the default one holds (PostgreSQL
    refuses a partition while the default holds rows of its range)."""
    name, low, high = day_name(day), bound(day), bound(day + timedelta(days=1))
    await conn.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
    # Rows of the day inserted into the default between the move and the ATTACH would fail the
    # ATTACH: the default is taken whole from the move on, in the mode the ATTACH takes it in
    # (taking a weaker one first, then that, deadlocked with a claim that then marks its rows).
    # An insert of the day that waited fails once the day is attached (PostgreSQL checks the
    # default's new bound): the days are made ahead (`PARTITION_DAYS_AHEAD`), before any
    # UUIDv7 of theirs is written.
    await conn.execute(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE")
    await conn.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE id >= $1 AND id < $2 RETURNING {_COLUMNS})"
        f" INSERT INTO {name} ({_COLUMNS}) SELECT {_COLUMNS} FROM moved",
        low,
        high,
    )
    await conn.execute(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ({_literal(low)})"
        f" TO ({_literal(high)})"
    )
    return name


async def drop(conn: asyncpg.Connection, partition: Partition) -> int:
    """Drops `partition` once the events still needed are moved out; how many were."""
    name = partition.name
    await conn.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
    # Detached, its range is nobody's: inserted again, its rows land in the default partition.
    status: str = await conn.execute(f"INSERT INTO {PARENT} ({_COLUMNS}) {kept_sql(name)}")
    await conn.execute(f"DROP TABLE {name}")
    return int(status.rsplit(" ", 1)[1])


async def upkeep(conn: asyncpg.Connection, retention_seconds: float, days_ahead: int) -> Upkeep:
    """Creates the partitions of today and the next `days_ahead` days that are missing, and
    drops those whose every id is older than `retention_seconds` (by the database's clock).

    Each drop and each create is a transaction of its own under the relays' advisory lock, held
    for that transaction only (a lock held for the session would outlive a cancelled sweep on
    its pooled connection and stop every other relay's upkeep), and each checks again, under
    the lock, that another relay has not done it meanwhile."""
    done = Upkeep()
    now: datetime = await conn.fetchval("SELECT now()")
    cutoff = now - timedelta(seconds=retention_seconds)
    for partition in await partitions(conn):
        if not partition.ends_before(cutoff):
            continue
        async with _bounded(conn) as locked:
            if not locked:
                done.skipped = True
                return done
            if partition in await partitions(conn):
                done.kept_events += await drop(conn, partition)
                done.dropped.append(partition.name)
    # After the drops: a range they freed (the legacy one's reaches past today) is made anew.
    for day in missing_days(await partitions(conn), day_of(now), days_ahead + 1):
        async with _bounded(conn) as locked:
            if not locked:
                done.skipped = True
                return done
            if missing_days(await partitions(conn), day, 1):
                done.created.append(await create_day(conn, day))
    return done


@asynccontextmanager
async def _bounded(conn: asyncpg.Connection) -> AsyncIterator[bool]:
    """A transaction whose every lock wait is bounded; whether it holds the relays' lock."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        yield bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_KEY))


def _literal(value: UUID) -> str:
    # Partition bounds are part of the DDL, which takes no placeholders; a UUID's text is safe.
    return f"'{value}'"
