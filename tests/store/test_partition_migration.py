"""Migration 0004 on an outbox with rows: every row kept as it was (UUIDv4 ids too, wherever
they sort), `seq` carrying on, and the code of schema 0003 still working on the new table."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from alembic.config import Config

from alembic import command
from shared.domain.ids import uuid7
from shared.domain.lifecycle import IN_FLIGHT, sql_literals
from shared.store.migrate import ALEMBIC_INI
from shared.store.outbox import DRIVING_EVENTS, INSERT_EVENT
from tests.support import add_order_row

# The statements of the code of schema 0003 this branch changed or may change, as that code ran
# them (DRIVING_EVENTS and INSERT_EVENT are unchanged since).
MARK_PUBLISHED_0003 = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::uuid[])"
CLAIM_UNPUBLISHED_0003 = """
SELECT id, order_id, type, source, time, data, traceparent FROM outbox
WHERE published_at IS NULL AND time < now() - make_interval(secs => $1)
ORDER BY seq LIMIT $2
FOR UPDATE SKIP LOCKED"""
FORGET_PUBLISHED_0003 = f"""
DELETE FROM outbox WHERE id IN (
  SELECT e.id FROM outbox e
  WHERE e.time < now() - make_interval(secs => $1)
    AND e.published_at < now() - make_interval(secs => $1)
    AND NOT EXISTS (
      SELECT 1 FROM orders o WHERE o.id = e.order_id AND o.status IN ({sql_literals(IN_FLIGHT)}))
  LIMIT $2)"""
WEEK = 7 * 24 * 3600.0
HIGH_UUID4 = uuid.UUID("f1e2d3c4-b5a6-4978-8a6b-5c4d3e2f1a0b")
LOW_UUID4 = uuid.UUID("00112233-4455-4677-8899-aabbccddeeff")


def _config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    config.attributes["configure_logging"] = False
    return config


async def _event(
    conn: asyncpg.Connection, event_id: uuid.UUID, order_id: uuid.UUID, age: timedelta
) -> None:
    at = datetime.now(UTC) - age
    await conn.execute(
        INSERT_EVENT, event_id, order_id, "orders.order.created", "/orders/orders_http", at,
        b"{}", None,
    )  # fmt: skip


async def test_the_migration_keeps_every_row_and_the_code_of_0003_works_after(
    scratch_database: str,
) -> None:
    await asyncio.to_thread(command.downgrade, _config(scratch_database), "0003")
    conn = await asyncpg.connect(scratch_database)
    try:
        on_its_way, shipped = (
            await add_order_row(conn, "CREATED"),
            await add_order_row(conn, "SHIPPED"),
        )
        await _event(conn, uuid7(), on_its_way, timedelta(minutes=10))
        await _event(conn, HIGH_UUID4, on_its_way, timedelta(minutes=2))
        await _event(conn, LOW_UUID4, shipped, timedelta(days=8))
        await _event(conn, uuid7(), shipped, timedelta(days=8))
        await conn.execute(
            "UPDATE outbox SET published_at = time + interval '25 ms' WHERE id <> $1", HIGH_UUID4
        )
        before = {row["id"]: dict(row) for row in await conn.fetch("SELECT * FROM outbox")}

        await asyncio.to_thread(command.upgrade, _config(scratch_database), "0004")
        after = {row["id"]: dict(row) for row in await conn.fetch("SELECT * FROM outbox")}
        assert after == before, "every row, every column, seq included"
        where = dict(await conn.fetch("SELECT id, tableoid::regclass::text FROM outbox"))
        assert where[HIGH_UUID4] == "outbox_default"
        assert where[LOW_UUID4] == "outbox_legacy"
        assert await _checks(conn) == []
        assert (
            await conn.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'outbox'")
            == "p"
        )
        # The old table's indexes became the partition's copies of the parent's: none built anew.
        indexes = await conn.fetch(
            "SELECT indexrelid::regclass::text FROM pg_index"
            " WHERE indrelid = 'outbox_legacy'::regclass"
        )
        assert sorted(row[0] for row in indexes) == [
            "outbox_legacy_order_id_idx",
            "outbox_legacy_pkey",
            "outbox_legacy_seq_idx",
            "outbox_legacy_time_idx",
        ]

        # The code of 0003 on the partitioned table: it writes an event (seq after the last)...
        new_id = uuid7()
        await _event(conn, new_id, on_its_way, timedelta(seconds=30))
        new_seq = await conn.fetchval("SELECT seq FROM outbox WHERE id = $1", new_id)
        assert new_seq > max(row["seq"] for row in before.values())
        # ...claims the unpublished ones in their order and marks them published...
        async with conn.transaction():
            claimed = await conn.fetch(CLAIM_UNPUBLISHED_0003, 5.0, 10)
            assert [row["id"] for row in claimed] == [HIGH_UUID4, new_id]
            await conn.execute(MARK_PUBLISHED_0003, [row["id"] for row in claimed])
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
        # ...re-drives the order on its way from its newest driving event...
        driving = await conn.fetch(DRIVING_EVENTS, 60.0, 60.0)
        assert [row["id"] for row in driving] == [HIGH_UUID4]
        # ...and deletes the published events of finished orders past the retention, row by row.
        assert await conn.execute(FORGET_PUBLISHED_0003, WEEK, 5000) == "DELETE 2"
        left = {row["id"] for row in await conn.fetch("SELECT id FROM outbox")}
        assert left == {HIGH_UUID4, new_id} | {
            i for i, row in before.items() if row["order_id"] == on_its_way
        }
    finally:
        await conn.close()


async def _checks(conn: asyncpg.Connection) -> list[str]:
    """The CHECK constraints on the outbox and its partitions."""
    return [
        row[0]
        for row in await conn.fetch(
            "SELECT conname FROM pg_constraint WHERE contype = 'c'"
            " AND conrelid::regclass::text LIKE 'outbox%'"
        )
    ]


async def test_a_migration_that_cannot_lock_fails_leaving_the_table_as_it_was_then_reruns(
    scratch_database: str,
) -> None:
    # A long transaction holds the outbox: the migration's LOCK gives up (its lock_timeout)
    # rather than queue every insert behind it, and nothing of it stays, no CHECK on the ids
    # above all, which would refuse the old code's inserts once their ids reached it.
    await asyncio.to_thread(command.downgrade, _config(scratch_database), "0003")
    conn, holder = await asyncpg.connect(scratch_database), await asyncpg.connect(scratch_database)
    try:
        order_id = await add_order_row(conn, "SHIPPED")
        for event_id in (uuid7(), LOW_UUID4):  # no id above the bound
            await _event(conn, event_id, order_id, timedelta(hours=1))
        before = {row["id"]: dict(row) for row in await conn.fetch("SELECT * FROM outbox")}
        holding = holder.transaction()
        await holding.start()
        await holder.fetch("SELECT id FROM outbox LIMIT 1")
        migration = asyncio.ensure_future(
            asyncio.to_thread(command.upgrade, _config(scratch_database), "0004")
        )
        # A guard, not a measure: a LOCK that waited for ever would otherwise hang the test;
        # released, it lets the migration through, and the test fails below.
        await asyncio.wait({migration}, timeout=120)
        await holding.rollback()
        with pytest.raises(Exception, match="lock timeout"):
            await migration
        assert (
            await conn.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'outbox'")
            == "r"
        )
        assert await _checks(conn) == []
        # The old code's inserts go on, whatever their ids (a UUIDv7 of years ahead here).
        later = uuid7(int((datetime.now(UTC) + timedelta(days=3650)).timestamp() * 1000))
        await _event(conn, later, order_id, timedelta(0))
        await _event(conn, HIGH_UUID4, order_id, timedelta(0))
        await conn.execute("DELETE FROM outbox WHERE id = ANY($1::uuid[])", [later, HIGH_UUID4])

        await asyncio.to_thread(command.upgrade, _config(scratch_database), "0004")
        after = {row["id"]: dict(row) for row in await conn.fetch("SELECT * FROM outbox")}
        assert after == before
        assert await _checks(conn) == []
    finally:
        await holder.close()
        await conn.close()
