"""The outbox's partitions: one per UTC day of event ids, as names and bounds (no I/O).

`outbox` is partitioned by RANGE of its primary key, the event id: a UUIDv7 begins with its
creation time in Unix milliseconds (`shared.domain.ids`), and PostgreSQL compares UUIDs byte by
byte, so the ids of one day lie between the UUID holding that day's first millisecond (zeros
after it) and the next day's. Expired days are dropped whole (`outbox_upkeep`).

Besides the days: `outbox_legacy`, the table as it stood before migration 0004, holding the ids
below the first day it created (UUIDv7 of before; UUIDv4 that sort there), and `outbox_default`,
which takes every id no partition covers (UUIDv4, which sort anywhere; a day upkeep has not
created yet), so an insert never fails for want of a partition.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from shared.domain.ids import unix_ms_of

PARENT = "outbox"
DEFAULT = "outbox_default"
LEGACY = "outbox_legacy"
_DAY_NAME = re.compile(r"outbox_p([0-9]{8})")
_BOUNDS = re.compile(r"FROM \((MINVALUE|'([0-9a-f-]{36})')\) TO \((MAXVALUE|'([0-9a-f-]{36})')\)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bound(day: date) -> UUID:
    """The lowest UUIDv7 of `day` (UTC): its first millisecond, every other bit zero."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return UUID(int=((start - _EPOCH) // timedelta(milliseconds=1)) << 80)


def day_of(value: datetime) -> date:
    return value.astimezone(UTC).date()


def day_name(day: date) -> str:
    return f"outbox_p{day:%Y%m%d}"


def is_partition(table: str) -> bool:
    """Whether `table` is one of the outbox's partitions (which the models do not list)."""
    return table in (DEFAULT, LEGACY) or _DAY_NAME.fullmatch(table) is not None


@dataclass(frozen=True)
class Partition:
    """A range partition: ids from `low` (None: the lowest) up to `high`, excluded (None: the
    highest)."""

    name: str
    low: UUID | None
    high: UUID | None

    def overlaps(self, low: UUID, high: UUID) -> bool:
        return (self.low is None or self.low < high) and (self.high is None or low < self.high)

    def ends_before(self, moment: datetime) -> bool:
        """Whether every id it may hold was made before `moment`."""
        cutoff_ms = (moment - _EPOCH) // timedelta(milliseconds=1)
        return self.high is not None and unix_ms_of(self.high) <= cutoff_ms


def parse(name: str, partition_bound: str) -> Partition | None:
    """The range of a partition from `pg_get_expr(relpartbound)`; None for the default."""
    found = _BOUNDS.search(partition_bound)
    if found is None:
        return None
    low, high = found.group(2), found.group(4)
    return Partition(name, UUID(low) if low else None, UUID(high) if high else None)


def missing_days(partitions: list[Partition], first: date, days: int) -> list[date]:
    """The days from `first` on (`days` of them) whose range no partition covers any of."""
    wanted = (first + timedelta(days=n) for n in range(days))
    return [
        day
        for day in wanted
        if not any(p.overlaps(bound(day), bound(day + timedelta(days=1))) for p in partitions)
    ]
