"""The soak: the lifecycle at a steady rate for half an hour, watching whether autovacuum keeps
up, i.e. whether the dead row versions the status changes and publish marks leave stay bounded.

Every `--soak-sample` seconds a thread reads `pg_stat_user_tables` (dead and live rows and
autovacuum runs per table). Dead rows are bounded when the most seen over the run's last third
is no more than BOUND_GROWTH times the most seen over its middle third: under a steady load
they rise and fall with each autovacuum run, and only a vacuum that falls behind lets them grow.
"""

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from tests.load.footprint import TABLES
from tests.load.stack import database_and_broker
from tests.load.system_load import lifecycle_run
from tests.system import LocalSystem

BOUND_GROWTH = 1.5
# A partitioned table (the outbox) as the sum of its partitions.
STATS = """
SELECT root AS relname, sum(n_dead_tup)::bigint AS n_dead_tup,
       sum(n_live_tup)::bigint AS n_live_tup, sum(autovacuum_count)::bigint AS autovacuum_count
FROM unnest($1::text[]) AS root CROSS JOIN LATERAL (
  SELECT relid FROM pg_partition_tree(root::regclass) WHERE isleaf
  UNION SELECT root::regclass) AS p
JOIN pg_stat_user_tables s ON s.relid = p.relid
GROUP BY root"""


async def table_stats(dsn: str) -> dict[str, dict[str, int]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(STATS, list(TABLES))
    finally:
        await conn.close()
    return {row["relname"]: dict(row) for row in rows}


class _Sampler(threading.Thread):
    def __init__(self, dsn: str, every: float) -> None:
        super().__init__(daemon=True)
        self.dsn, self.every = dsn, every
        self.samples: list[tuple[float, dict[str, dict[str, int]]]] = []
        self.done = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.done.wait(self.every):
            stats = asyncio.run(table_stats(self.dsn))
            self.samples.append((time.monotonic() - self.started_at, stats))


def bounded(dead: Sequence[tuple[float, int]], seconds: float) -> bool:
    """Whether the dead rows (seconds into the run, count) of the run's last third stayed within
    BOUND_GROWTH times the most of its middle third."""
    middle = [n for t, n in dead if seconds / 3 <= t < 2 * seconds / 3]
    last = [n for t, n in dead if t >= 2 * seconds / 3]
    if not middle or not last:
        return False
    return max(last) <= BOUND_GROWTH * max(max(middle), 1)


def summary(samples: list[tuple[float, dict[str, dict[str, int]]]], seconds: float) -> Any:
    tables: dict[str, Any] = {}
    for table in TABLES:
        dead = [(t, stats[table]["n_dead_tup"]) for t, stats in samples if table in stats]
        if not dead:
            continue
        last = samples[-1][1].get(table, {})
        tables[table] = {
            "dead_max": max(n for _, n in dead),
            "dead_at_end": dead[-1][1],
            "live_at_end": last.get("n_live_tup", 0),
            "autovacuum_runs": last.get("autovacuum_count", 0),
            "bounded": bounded(dead, seconds),
            "dead_series": dead,
        }
    return tables


def run(workdir: Path, results: Path, rate: int, minutes: int, every: float) -> dict[str, Any]:
    seconds = minutes * 60
    with database_and_broker(workdir / "soak") as env:
        sampler = _Sampler(env["DATABASE_URL"], every)

        def start_sampling(_: LocalSystem) -> None:
            sampler.started_at = time.monotonic()
            sampler.start()

        try:
            life = lifecycle_run(
                env, rate, seconds, results, name="soak", under_load=start_sampling
            )
        finally:
            sampler.done.set()
    sampler.join()
    return {
        "rate": rate,
        "minutes": minutes,
        "orders_shipped": life["orders_shipped"],
        "orders_not_shipped": life["orders_not_shipped"],
        "create_p99_ms": life["create_p99_ms"],
        "tables": summary(sampler.samples, seconds),
    }
