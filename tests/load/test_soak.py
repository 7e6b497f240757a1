"""The soak's verdict: dead rows are bounded when the run's last third holds no more of them
than its middle third did, give or take autovacuum's rise and fall."""

import asyncpg

from tests.load.seed import Plan, seed
from tests.load.soak import bounded, summary, table_stats
from tests.load.table import soak_rows

SECONDS = 90.0


def test_dead_rows_that_rise_and_fall_are_bounded() -> None:
    sawtooth = [(t, 1000 + (t % 20) * 100) for t in range(0, 90, 5)]
    assert bounded([(float(t), n) for t, n in sawtooth], SECONDS)


def test_dead_rows_that_keep_growing_are_not() -> None:
    growing = [(float(t), 1000 * t) for t in range(0, 90, 5)]
    assert not bounded(growing, SECONDS)


def test_too_few_samples_prove_nothing() -> None:
    assert not bounded([(1.0, 0), (80.0, 0)], SECONDS)


def test_the_table_gives_each_table_its_verdict() -> None:
    samples = [
        (float(t), {"outbox": {"n_dead_tup": 10 * t, "n_live_tup": 5, "autovacuum_count": 0}})
        for t in range(0, 90, 10)
    ]
    tables = summary(samples, SECONDS)
    assert tables["outbox"]["dead_max"] == 800
    assert tables["outbox"]["bounded"] is False
    soak = {
        "rate": 250,
        "minutes": 30,
        "orders_shipped": 450000,
        "orders_not_shipped": 0,
        "create_p99_ms": 20.0,
        "tables": tables,
    }
    assert "| outbox | 800 / 800 | 5 | 0 | NOT met |" in soak_rows(soak)


async def test_dead_rows_are_read_for_each_table_the_outbox_with_its_partitions(
    database_url: str, db: asyncpg.Connection
) -> None:
    await seed(database_url, Plan(300, "uuid7", 10, 10, 10, 0.5), progress=lambda _: None)
    await db.execute("UPDATE outbox SET published_at = now()")
    await db.execute("SELECT pg_stat_force_next_flush()")
    stats = await table_stats(database_url)
    assert set(stats) == {"orders", "outbox", "idempotency_keys"}
    assert stats["outbox"]["n_live_tup"] + stats["outbox"]["n_dead_tup"] >= 900
