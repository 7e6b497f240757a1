"""The bulk load of `make bench-scale`: months of orders, written in minutes.

Rows are those the service writes, in the state a live system leaves them: most orders SHIPPED
with their three events (created, confirmed, shipped) published; the newest ones still on
their way (CREATED, then CONFIRMED, for the steps' delays), their newest events not yet
published; an idempotency key for a share of the orders. Orders come at a steady rate that
ends now, their events in the order of their times (as `seq` numbers them), each event's data
the order as the statement that wrote it returned it (`to_json`), its `time` the order's time
for that status. Ids are made as the service makes them (`--ids`): UUIDv7 at the row's time,
or UUIDv4.

How: one transaction truncates the tables and fills them with `COPY ... (FORMAT binary,
FREEZE)`, so that the rows are as a long-vacuumed table holds them (frozen, all-visible: no
autovacuum or hint-bit writes during the measurement). The outbox is partitioned by day of
event id, as the relay keeps it (`shared/store/outbox_upkeep.py`): the load makes the days it
spans (the migration's legacy partition, emptied, goes), and PostgreSQL takes no FREEZE into a
partitioned table, so its rows are routed by a plain COPY and frozen by a `VACUUM (FREEZE)`
after the commit. The indexes are in place during the load, so each grows by inserts as under the service (a B-tree filled at random is about 70%
full, one filled in key order about 90%). The rows are encoded in a second process while the
first streams the previous chunk to PostgreSQL.
"""

import asyncio
import hashlib
import heapq
import multiprocessing
import random
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from shared.domain.events import SOURCES, EventType
from shared.flows.relay import PARTITION_DAYS_AHEAD
from shared.runtime.auth import owned_key
from shared.store.outbox_partitions import LEGACY, day_of, missing_days
from shared.store.outbox_upkeep import create_day, partitions

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
OUTBOX_COLUMNS = ("id", "order_id", "type", "source", "time", "data", "published_at")
KEY_COLUMNS = ("key", "request_hash", "order_id", "status_code", "body", "created_at")
# Customers hold this many orders each, on average: a list page (20) is full for most.
ORDERS_PER_CUSTOMER = 50
CHUNK = 20_000
# An event reaches Kafka this long after its commit (the publisher gathers for 20 ms).
PUBLISH_LAG = timedelta(milliseconds=25)
# Line items as clients send them: a few SKUs, one to three lines.
_SKUS = tuple(f"SKU-{n}" for n in range(1, 200))
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_NULL = struct.pack("!i", -1)


@dataclass(frozen=True)
class Plan:
    orders: int
    ids: str  # "uuid7" or "uuid4"
    rate: float  # orders per second the timeline was written at
    confirm_delay: float
    ship_delay: float
    key_share: float  # the share of orders created with an Idempotency-Key
    seed: int = 18


@dataclass(frozen=True)
class SeedReport:
    orders: int
    events: int
    keys: int
    statuses: dict[str, int]
    unpublished: int
    seconds: float


# PostgreSQL's binary COPY format: per row, the field count, then each field's length (-1 for
# NULL) and bytes; integers and timestamps (microseconds since 2000) big-endian.
_INT16 = struct.Struct("!h").pack
_INT32 = struct.Struct("!i").pack
_INT64 = struct.Struct("!q").pack
_UUID_LENGTH = _INT32(16)
_INT64_LENGTH = _INT32(8)
_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUS = {1: "CREATED", 2: "CONFIRMED", 3: "SHIPPED"}
_EVENT = {1: EventType.CREATED, 2: EventType.CONFIRMED, 3: EventType.SHIPPED}


def _text(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _INT32(len(data)) + data


def _time(unix_us: int | None) -> bytes:
    return _NULL if unix_us is None else _INT64_LENGTH + _INT64(unix_us - _POSTGRES_EPOCH_US)


_STATUS_FIELDS = {version: _text(status) for version, status in _STATUS.items()}
_VERSION_FIELDS = {version: _INT32(4) + _INT32(version) for version in _STATUS}
_EVENT_FIELDS = {v: _text(kind.value) + _text(SOURCES[kind]) for v, kind in _EVENT.items()}
_STATUS_CODE_201 = _INT32(2) + _INT16(201)


def _to_json(value: object) -> bytes:
    """As `shared.orders.to_json` writes an order."""
    return orjson.dumps(value, default=str)


class _Generator:
    """The plan's rows, chunk by chunk, in the order the service would have written them."""

    def __init__(self, plan: Plan, now: datetime) -> None:
        self.plan = plan
        self.random = random.Random(plan.seed)
        self.customers = max(1, plan.orders // ORDERS_PER_CUSTOMER)
        self.step = round(1_000_000 / plan.rate)
        self.confirm = round(plan.confirm_delay * 1_000_000)
        self.ship = round(plan.ship_delay * 1_000_000)
        self.lag = round(PUBLISH_LAG.total_seconds() * 1_000_000)
        # Orders arrived at `rate`. The newest, those still on their way (or the ones a step
        # would move meanwhile), are timed from the moment they are encoded, a chunk or two
        # before the commit, so that however long the load takes they are not yet overdue
        # for the relay: the older ones, all SHIPPED, end where the load started.
        lifetime = (plan.confirm_delay + plan.ship_delay + 1) * plan.rate
        self.tail = max(0, plan.orders - int(lifetime))
        self.now = _unix_us(now)
        self.first = self.now - self.step * self.tail - self.confirm - self.ship - 1_000_000
        self.tail_now: int | None = None
        self.pending: list[tuple[int, int, bytes]] = []  # events not yet due: (time, n, row)
        self.counter = 0
        self.statuses = dict.fromkeys(_STATUS.values(), 0)
        self.events = 0
        self.keys = 0
        self.unpublished = 0

    def _id(self, unix_us: int) -> bytes:
        """As `shared.domain.ids.uuid7` (RFC 9562 5.7) makes one at that time, or a UUIDv4;
        random bits from the plan's seed, so that a load is the same every time."""
        if self.plan.ids == "uuid4":
            return uuid.UUID(int=self.random.getrandbits(128), version=4).bytes
        bits = self.random.getrandbits(74)
        rand_a, rand_b = bits >> 62, bits & ((1 << 62) - 1)
        value = (unix_us // 1000) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
        return value.to_bytes(16, "big")

    def _created(self, n: int) -> int:
        if n < self.tail:
            return self.first + self.step * n
        if self.tail_now is None:
            self.tail_now = self.now = _unix_us(datetime.now(UTC))
        return self.tail_now - self.step * (self.plan.orders - n)

    def chunk(self, first: int, count: int) -> tuple[bytes, bytes, bytes]:
        """Orders `first` .. `first + count - 1`, their keys, and the events due by the last
        one's creation (all that remain, with the last chunk)."""
        rnd = self.random.random
        orders, keys = [_HEADER], [_HEADER]
        last = first + count
        for n in range(first, last):
            created = self._created(n) + int(rnd() * 1000)
            confirm_at = created + self.confirm + int(rnd() * 2000)
            ship_at = confirm_at + self.ship + int(rnd() * 2000)
            confirmed = confirm_at if confirm_at <= self.now else None
            shipped = ship_at if ship_at <= self.now else None
            version = 1 + (confirmed is not None) + (shipped is not None)
            self.statuses[_STATUS[version]] += 1
            order_id = self._id(created)
            customer = f"c-{int(rnd() * self.customers)}"
            items: list[dict[str, Any]] = [
                {
                    "sku": _SKUS[int(rnd() * len(_SKUS))],
                    "quantity": 1 + int(rnd() * 5),
                    "unit_price_cents": 50 + int(rnd() * 50_000),
                }
                for _ in range(1 + int(rnd() * 3))
            ]
            total = sum(i["quantity"] * i["unit_price_cents"] for i in items)
            updated = shipped or confirmed or created
            orders.append(
                b"".join(
                    (
                        _INT16(10),
                        _UUID_LENGTH,
                        order_id,
                        _text(customer),
                        _text(b"\x01" + orjson.dumps(items)),
                        _INT64_LENGTH,
                        _INT64(total),
                        _STATUS_FIELDS[version],
                        _VERSION_FIELDS[version],
                        _time(created),
                        _time(updated),
                        _time(confirmed),
                        _time(shipped),
                    )
                )
            )
            # Each event's data: the order as the statement that wrote the event returned it.
            times = {1: created, 2: confirmed, 3: shipped}
            order = {
                "id": _uuid_text(order_id),
                "customer_id": customer,
                "items": items,
                "total_cents": total,
                "status": "CREATED",
                "version": 1,
                "created_at": _datetime(created),
                "updated_at": _datetime(created),
                "confirmed_at": None,
                "shipped_at": None,
            }
            for step in range(1, version + 1):
                at = times[step]
                assert at is not None
                if step > 1:
                    order["status"], order["version"] = _STATUS[step], step
                    order["updated_at"] = order[f"{_STATUS[step].lower()}_at"] = _datetime(at)
                data = _to_json(order)
                if step == 1 and rnd() < self.plan.key_share:
                    keys.append(self._key_row(order_id, customer, items, data, created))
                self._event(order_id, step, at, data)
        if last >= self.plan.orders:
            due = self.now
        elif last < self.tail:
            due = self.first + self.step * last
        else:
            assert self.tail_now is not None
            due = self.tail_now - self.step * (self.plan.orders - last)
        events = [_HEADER]
        while self.pending and self.pending[0][0] <= due:
            events.append(heapq.heappop(self.pending)[2])
        return (
            b"".join([*orders, _TRAILER]),
            b"".join([*events, _TRAILER]),
            b"".join([*keys, _TRAILER]),
        )

    def _event(self, order_id: bytes, step: int, at: int, data: bytes) -> None:
        published = at + self.lag if at + self.lag <= self.now else None
        self.unpublished += published is None
        row = b"".join(
            (
                _INT16(7),
                _UUID_LENGTH,
                self._id(at),
                _UUID_LENGTH,
                order_id,
                _EVENT_FIELDS[step],
                _time(at),
                _text(data),
                _time(published),
            )
        )
        self.counter += 1
        self.events += 1
        heapq.heappush(self.pending, (at, self.counter, row))

    def _key_row(
        self,
        order_id: bytes,
        customer: str,
        items: list[dict[str, Any]],
        body: bytes,
        at: int,
    ) -> bytes:
        """As `functions/orders_http/handlers.py` claims a key: the request's hash, and the
        first answer (201, the created order); the key a client's UUIDv4."""
        self.keys += 1
        request = {"customer_id": customer, "items": items}
        request_hash = hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS))
        # Stored in the caller's namespace, as the handler stores it (no authentication here).
        key = owned_key(None, str(uuid.UUID(int=self.random.getrandbits(128), version=4)))
        return b"".join(
            (
                _INT16(6),
                _text(key),
                _text(request_hash.hexdigest()),
                _UUID_LENGTH,
                order_id,
                _STATUS_CODE_201,
                _text(body),
                _time(at),
            )
        )

    def report(self, seconds: float) -> SeedReport:
        return SeedReport(
            self.plan.orders,
            self.events,
            self.keys,
            dict(self.statuses),
            self.unpublished,
            seconds,
        )


def _unix_us(value: datetime) -> int:
    delta = value - _UNIX_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _uuid_text(value: bytes) -> str:
    """str(UUID(bytes=value)), at a third of the cost."""
    h = value.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _datetime(unix_us: int) -> datetime:
    return _UNIX_EPOCH + timedelta(microseconds=unix_us)


def _produce(plan: Plan, now: datetime, queue: "multiprocessing.Queue[Any]") -> None:
    """The second process: encodes the chunks in order and hands them over."""
    generator = _Generator(plan, now)
    for first in range(0, plan.orders, CHUNK):
        queue.put(generator.chunk(first, min(CHUNK, plan.orders - first)))
    assert not generator.pending, "every event written"
    queue.put(generator.report(0.0))


def chunks(plan: Plan, now: datetime) -> Iterator[tuple[bytes, bytes, bytes]]:
    """The encoded chunks, in this process (for tests)."""
    generator = _Generator(plan, now)
    for first in range(0, plan.orders, CHUNK):
        yield generator.chunk(first, min(CHUNK, plan.orders - first))


async def _source(data: bytes) -> Any:
    yield data


async def _day_partitions(conn: asyncpg.Connection, first_unix_us: int) -> None:
    """The outbox's day partitions from the first order's day to those the relay makes ahead,
    in place of the (emptied) legacy partition, whose range reaches back over them."""
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", LEGACY):
        await conn.execute(f"DROP TABLE {LEGACY}")
    first = day_of(_datetime(first_unix_us))
    days = (day_of(datetime.now(UTC)) - first).days + 1 + PARTITION_DAYS_AHEAD
    for day in missing_days(await partitions(conn), first, days):
        await create_day(conn, day)


async def seed(dsn: str, plan: Plan, progress: Callable[[str], None] = print) -> SeedReport:
    """Replaces the tables' rows by the plan's, in one transaction."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[Any] = context.Queue(maxsize=3)
    producer = context.Process(target=_produce, args=(plan, now, queue), daemon=True)
    producer.start()
    loop = asyncio.get_running_loop()
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("TRUNCATE orders, outbox, idempotency_keys RESTART IDENTITY")
            await _day_partitions(conn, _Generator(plan, now).first)
            done = 0
            while True:
                item = await loop.run_in_executor(None, queue.get)
                if isinstance(item, SeedReport):
                    break
                for table, columns, data in zip(
                    ("orders", "outbox", "idempotency_keys"),
                    (ORDER_COLUMNS, OUTBOX_COLUMNS, KEY_COLUMNS),
                    item,
                    strict=True,
                ):
                    if len(data) > len(_HEADER) + len(_TRAILER):
                        await conn.copy_to_table(
                            table,
                            source=_source(data),
                            columns=columns,
                            format="binary",
                            freeze=table != "outbox",
                        )
                done = min(done + CHUNK, plan.orders)
                if done % (10 * CHUNK) == 0 or done == plan.orders:
                    elapsed = time.perf_counter() - started
                    progress(f"  seeded {done:,} orders in {elapsed:.0f} s")
        await conn.execute("VACUUM (FREEZE) outbox")
    finally:
        await conn.close()
        producer.join(30)
    seconds = time.perf_counter() - started
    return SeedReport(item.orders, item.events, item.keys, item.statuses, item.unpublished, seconds)
