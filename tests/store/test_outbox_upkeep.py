"""The relay's partition upkeep, on a database of the test's own: the coming days made once
however many relays run it, an insert never refused for want of a partition, an expired day
dropped whole with the events the relay still needs kept."""

import asyncio
import importlib.util
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from pydantic import SecretStr

from shared.domain.ids import uuid7
from shared.flows import relay
from shared.settings import get_settings
from shared.store import outbox
from shared.store.db import Database
from shared.store.outbox_partitions import DEFAULT, LEGACY, bound, day_name
from shared.store.outbox_upkeep import create_day, kept_sql, partitions, upkeep
from tests.support import add_order_row

WEEK = 7 * 24 * 3600.0
INSERT = (
    "INSERT INTO outbox (id, order_id, type, source, time, data, published_at)"
    " VALUES ($1, $2, 'orders.order.created', '/orders/test', $3, '\\x7b7d', $4)"
)


@pytest.fixture
async def conn(scratch_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(scratch_database)
    yield connection
    await connection.close()


def _noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


async def _today(conn: asyncpg.Connection) -> date:
    today: date = await conn.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    return today


async def _where(conn: asyncpg.Connection, event_id: uuid.UUID) -> str | None:
    table: str | None = await conn.fetchval(
        "SELECT tableoid::regclass::text FROM outbox WHERE id = $1", event_id
    )
    return table


async def test_today_and_the_days_ahead_are_made_once_by_concurrent_relays(
    scratch_database: str, conn: asyncpg.Connection
) -> None:
    today = await _today(conn)
    connections = [await asyncpg.connect(scratch_database) for _ in range(3)]
    try:
        runs = await asyncio.gather(*(upkeep(c, WEEK, 3) for c in connections))
    finally:
        for connection in connections:
            await connection.close()
    created = [name for run in runs for name in run.created]
    # The migration's legacy partition holds the ids up to the day after tomorrow: the days
    # after it are made.
    assert sorted(created) == [day_name(today + timedelta(days=n)) for n in (2, 3)]
    assert (await upkeep(conn, WEEK, 3)).created == []
    names = {p.name for p in await partitions(conn)}
    assert names == {LEGACY, *created}
    at_noon = {
        day: uuid7(int(_noon(day).timestamp() * 1000)) for day in (today, today + timedelta(days=2))
    }
    for day, event_id in at_noon.items():
        await conn.execute(INSERT, event_id, uuid7(), _noon(day), None)
    assert await _where(conn, at_noon[today]) == LEGACY
    assert await _where(conn, at_noon[today + timedelta(days=2)]) == day_name(
        today + timedelta(days=2)
    )


async def test_an_id_no_partition_covers_goes_to_the_default_and_moves_with_its_day(
    conn: asyncpg.Connection,
) -> None:
    later = await _today(conn) + timedelta(days=30)
    early = uuid7(int(_noon(later).timestamp() * 1000))
    above = uuid.UUID(int=0xF << 124 | uuid.uuid4().int >> 4)  # a UUIDv4 above every day
    for event_id in (early, above):
        await conn.execute(INSERT, event_id, uuid7(), datetime.now(UTC), None)
        assert await _where(conn, event_id) == DEFAULT
    async with conn.transaction():
        await create_day(conn, later)
    assert await _where(conn, early) == day_name(later)
    assert await _where(conn, above) == DEFAULT
    assert await conn.fetchval("SELECT count(*) FROM outbox") == 2


async def test_an_expired_day_is_dropped_whole_keeping_what_the_relay_needs(
    conn: asyncpg.Connection,
) -> None:
    today = await _today(conn)
    # The legacy partition goes like any other once its bound is past the retention (here,
    # a retention reaching two days ahead); today's day is made in its place.
    first = await upkeep(conn, -2 * 24 * 3600.0, 0)
    assert first.dropped == [LEGACY]
    assert first.created == [day_name(today)]
    old_day = today - timedelta(days=8)
    async with conn.transaction():
        await create_day(conn, old_day)
    on_its_way, shipped = await add_order_row(conn, "CREATED"), await add_order_row(conn, "SHIPPED")
    at, published = _noon(old_day), _noon(old_day) + timedelta(seconds=1)
    events = {
        "gone": (uuid7(int(at.timestamp() * 1000)), shipped, published),
        "unpublished": (uuid7(int(at.timestamp() * 1000) + 1), shipped, None),
        "on its way": (uuid7(int(at.timestamp() * 1000) + 2), on_its_way, published),
    }
    for event_id, order_id, published_at in events.values():
        await conn.execute(INSERT, event_id, order_id, at, published_at)
    seqs = dict(await conn.fetch("SELECT id, seq FROM outbox"))
    recent = uuid7()
    await conn.execute(INSERT, recent, shipped, datetime.now(UTC), datetime.now(UTC))

    done = await upkeep(conn, WEEK, 0)
    assert done.dropped == [day_name(old_day)]
    assert done.kept_events == 2
    assert not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", day_name(old_day))
    kept = {
        r["id"]: r for r in await conn.fetch("SELECT *, tableoid::regclass::text AS t FROM outbox")
    }
    assert set(kept) == {events["unpublished"][0], events["on its way"][0], recent}
    for name in ("unpublished", "on its way"):
        row = kept[events[name][0]]
        assert (row["t"], row["seq"], row["order_id"]) == (
            DEFAULT,
            seqs[row["id"]],
            events[name][1],
        )
    assert kept[recent]["t"] == day_name(today)
    # In the default partition, the kept events are the row-by-row retention's, which keeps
    # them while the relay needs them and deletes them after.
    assert await outbox.forget_published(conn, WEEK, 100) == 0
    await conn.execute("UPDATE orders SET status = 'SHIPPED'")
    await conn.execute("UPDATE outbox SET published_at = $1 WHERE published_at IS NULL", published)
    assert await outbox.forget_published(conn, WEEK, 100) == 2
    assert [r["id"] for r in await conn.fetch("SELECT id FROM outbox")] == [recent]


async def test_a_busy_outbox_postpones_the_drop_and_inserts_go_on(
    scratch_database: str, conn: asyncpg.Connection
) -> None:
    claim = await asyncpg.connect(scratch_database)
    try:
        # A relay's claim holds the outbox until its transaction ends; a DETACH must wait for it.
        async with claim.transaction():
            await claim.fetch("SELECT id FROM outbox FOR UPDATE SKIP LOCKED")
            with pytest.raises(asyncpg.LockNotAvailableError):
                await upkeep(conn, -2 * 24 * 3600.0, 0)
            # The relay's sweep leaves it to the next one (the rest of the sweep goes on).
            settings = get_settings().model_copy(
                update={
                    "database_url": SecretStr(scratch_database),
                    "outbox_retention_seconds": -2 * 24 * 3600.0,
                }
            )
            database = Database(settings)
            try:
                assert await relay.partition_upkeep(settings, database) == 0
            finally:
                await database.close()
            event_id = uuid7()
            await conn.execute(INSERT, event_id, uuid7(), datetime.now(UTC), None)
    finally:
        await claim.close()
    assert await _where(conn, event_id) == LEGACY, "nothing of the upkeep stayed"
    assert (await upkeep(conn, -2 * 24 * 3600.0, 0)).dropped == [LEGACY]


def test_bound_is_what_the_migration_writes(root: Path) -> None:
    # Migration 0004 writes the bound out rather than importing it (a migration must not change
    # with the code): the two agree.
    path = root / "alembic" / "versions" / "0004_outbox_partitions.py"
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    later = datetime.now(UTC).date() + timedelta(days=2)
    assert migration._first_day_bound() in (bound(later), bound(later + timedelta(days=1)))


async def test_the_kept_events_are_found_through_indexes_not_by_reading_the_day(
    conn: asyncpg.Connection,
) -> None:
    # A day of 30,000 published events of finished orders and 10 orders on their way, whose
    # events and one unpublished event are what a drop keeps: the query must not scan the day.
    day = await _today(conn) - timedelta(days=8)
    name = day_name(day)
    await upkeep(conn, -2 * 24 * 3600.0, 0)  # the legacy partition, whose range holds that day
    async with conn.transaction():
        await create_day(conn, day)
    on_their_way = [await add_order_row(conn, "CONFIRMED") for _ in range(10)]
    start_ms = int(_noon(day).timestamp() * 1000)
    await conn.execute(
        "INSERT INTO outbox (id, order_id, type, source, time, data, published_at)"
        " SELECT (lpad(to_hex($1::bigint + n), 12, '0') || '7' || substr(md5(n::text), 1, 19))::uuid,"
        " CASE WHEN n <= 10 THEN ($2::uuid[])[n] ELSE gen_random_uuid() END,"
        " 'orders.order.created', '/x', $3::timestamptz,"
        " '\\x7b7d', CASE WHEN n = 11 THEN NULL ELSE $3::timestamptz END"
        " FROM generate_series(1, 30000) AS n",
        start_ms,
        on_their_way,
        _noon(day),
    )
    await conn.execute("ANALYZE")
    explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {kept_sql(name)}")
    scans = {
        node["Node Type"]
        for node in _nodes(orjson.loads(explained)[0]["Plan"])
        if node.get("Relation Name") == name
    }
    assert scans, explained
    assert not {"Seq Scan", "Parallel Seq Scan"} & scans, scans
    assert len(await conn.fetch(kept_sql(name))) == 11


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def _waits_for_a_lock(conn: asyncpg.Connection, pid: int) -> None:
    while not await conn.fetchval(
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
    ):
        await asyncio.sleep(0.05)


async def test_a_row_of_the_day_inserted_meanwhile_does_not_fail_its_create(
    scratch_database: str, conn: asyncpg.Connection
) -> None:
    # An insert of the day, not yet committed when the create moves the day's rows out of the
    # default partition: the create waits for it and moves it too, instead of the ATTACH
    # finding it in the default afterwards (CheckViolation).
    later = await _today(conn) + timedelta(days=30)
    event_id = uuid7(int(_noon(later).timestamp() * 1000))
    writer, creator = (
        await asyncpg.connect(scratch_database),
        await asyncpg.connect(scratch_database),
    )
    try:
        writing = writer.transaction()
        await writing.start()
        await writer.execute(INSERT, event_id, uuid7(), datetime.now(UTC), None)

        async def create() -> str:
            async with creator.transaction():
                return await create_day(creator, later)

        creating = asyncio.ensure_future(create())
        await _waits_for_a_lock(conn, creator.get_server_pid())
        await writing.commit()
        assert await creating == day_name(later)
    finally:
        await writer.close()
        await creator.close()
    assert await _where(conn, event_id) == day_name(later)


async def test_each_drop_and_create_commits_on_its_own(conn: asyncpg.Connection) -> None:
    # A create that fails (here its table's name is taken) leaves the drop before it done: no
    # insert waited behind the drop's ACCESS EXCLUSIVE for the create's sake.
    today = await _today(conn)
    await upkeep(conn, -2 * 24 * 3600.0, 0)  # the legacy partition gone, today's made
    old_day = today - timedelta(days=8)
    async with conn.transaction():
        await create_day(conn, old_day)
    await conn.execute(f"DROP TABLE {day_name(today)}")
    await conn.execute(f"CREATE TABLE {day_name(today)} (id uuid)")
    with pytest.raises(asyncpg.DuplicateTableError):
        await upkeep(conn, WEEK, 0)
    assert await partitions(conn) == []
    # The advisory lock went with the failed run: the next one is not skipped.
    await conn.execute(f"DROP TABLE {day_name(today)}")
    done = await upkeep(conn, WEEK, 0)
    assert (done.dropped, done.created, done.skipped) == ([], [day_name(today)], False)
