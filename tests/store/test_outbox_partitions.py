"""A day's partition bounds hold exactly the UUIDv7 made that day (UTC), as PostgreSQL orders
UUIDs; the bounds read back from the catalog's text."""

import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg

from shared.domain.ids import uuid7
from shared.store.outbox_partitions import (
    Partition,
    bound,
    day_name,
    is_partition,
    missing_days,
    parse,
)

DAY = date(2026, 12, 3)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def test_a_days_bounds_hold_the_ids_of_that_day_in_postgres_order(
    db: asyncpg.Connection,
) -> None:
    start = datetime(2026, 12, 3, tzinfo=UTC)
    inside = [uuid7(_ms(start)), uuid7(_ms(start + timedelta(days=1)) - 1)]
    outside = [uuid7(_ms(start) - 1), uuid7(_ms(start + timedelta(days=1)))]
    low, high = bound(DAY), bound(DAY + timedelta(days=1))
    assert str(low) == "01a23933-6800-0000-0000-000000000000"
    for value, expected in [(v, True) for v in inside] + [(v, False) for v in outside]:
        held = await db.fetchval("SELECT $1::uuid >= $2 AND $1::uuid < $3", value, low, high)
        assert held is expected, value


async def test_uuid4_ids_sort_across_every_day(db: asyncpg.Connection) -> None:
    # Why the default partition exists: a UUIDv4 may sort into a day long past or far ahead.
    below, above = uuid.UUID(int=1 << 120 | 4 << 76), uuid.UUID(int=0xF0 << 120 | 4 << 76)
    assert await db.fetchval("SELECT $1::uuid < $2", below, bound(DAY))
    assert await db.fetchval("SELECT $1::uuid > $2", above, bound(date(9999, 12, 31)))


def test_bounds_read_back_from_the_catalogs_text() -> None:
    low, high = bound(DAY), bound(DAY + timedelta(days=1))
    assert parse("p", f"FOR VALUES FROM ('{low}') TO ('{high}')") == Partition("p", low, high)
    assert parse("l", f"FOR VALUES FROM (MINVALUE) TO ('{high}')") == Partition("l", None, high)
    assert parse("d", "DEFAULT") is None


def test_the_missing_days_are_those_no_partition_overlaps() -> None:
    legacy = Partition("outbox_legacy", None, bound(DAY + timedelta(days=1)))
    later = Partition(day_name(DAY + timedelta(days=2)), bound(DAY + timedelta(days=2)), None)
    assert missing_days([legacy, later], DAY, 4) == [DAY + timedelta(days=1)]
    assert missing_days([], DAY, 2) == [DAY, DAY + timedelta(days=1)]


def test_a_partition_ends_before_a_moment_when_its_bound_does() -> None:
    start = datetime(2026, 12, 4, tzinfo=UTC)
    day = Partition(day_name(DAY), bound(DAY), bound(DAY + timedelta(days=1)))
    assert day.ends_before(start)
    assert not day.ends_before(start - timedelta(milliseconds=1))
    assert not Partition("open", bound(DAY), None).ends_before(start + timedelta(days=999))


def test_partition_names_are_told_from_tables() -> None:
    assert day_name(DAY) == "outbox_p20261203"
    for name in ("outbox_p20261203", "outbox_default", "outbox_legacy"):
        assert is_partition(name)
    for name in ("outbox", "orders", "idempotency_keys", "outbox_p2026", "outbox_pending"):
        assert not is_partition(name)
