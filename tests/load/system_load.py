"""The lifecycle benchmark: the whole system, zero delays, k6 at a constant arrival rate."""

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.load import footprint
from tests.load.k6 import run_k6
from tests.load.stack import cpu_seconds
from tests.support import order_body
from tests.system import LocalSystem

OWN_FUNCTIONS = ("orders_http", "confirm", "ship")


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip().startswith(name):
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _cpu(system: LocalSystem) -> dict[str, float]:
    usage = {name: cpu_seconds(process.pid) for name, process in system.processes.items()}
    for label, comm in (("postgres", "postgres"), ("broker", "tansu")):
        total = 0.0
        for pid in _pids_named(comm):
            try:
                total += cpu_seconds(pid)
            except OSError:
                continue
        usage[label] = total
    return usage


SPAN = """
SELECT count(*) FILTER (WHERE status = 'SHIPPED'),
       extract(epoch FROM max(shipped_at) - min(created_at))::float8,
       extract(epoch FROM max(shipped_at) - max(created_at))::float8
FROM orders WHERE customer_id = $1"""
# The pipeline kept pace when its last order shipped within this long of the last create.
KEPT_PACE_SECONDS = 1.0


async def _span(dsn: str, run_id: str) -> tuple[int, float, float]:
    """Orders of the run that reached SHIPPED, seconds from its first create to its last ship,
    and seconds from its last create to its last ship."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(SPAN, run_id)
    finally:
        await conn.close()
    return row[0], row[1] or 0.0, row[2] or 0.0


def _warm_up(system: LocalSystem, orders: int = 50) -> None:
    """Send a burst of orders through before measuring, and wait until they shipped: the
    dispatcher's consumers have joined their groups and the pools hold their connections, as
    in a system that has been running (its first seconds are the cold-start rows' business)."""

    async def create_all() -> list[str]:
        async with httpx.AsyncClient(base_url=system.url("orders_http"), timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post("/", json=order_body("warm-up")) for _ in range(orders))
            )
        return [answer.json()["id"] for answer in answers]

    system.wait_for_status(asyncio.run(create_all()), "SHIPPED", within=120)


def carried_per_second(shipped: int, duration: float, span: float, lag: float) -> float:
    """Orders/s carried end to end: over the load's duration when the last order shipped right
    behind the last create (the pipeline kept pace), else over first create to last ship."""
    window = duration if lag <= KEPT_PACE_SECONDS else span
    return shipped / window if window else 0.0


def lifecycle_run(env: dict[str, str], rate: int, duration: int, results: Path) -> dict[str, Any]:
    """Orders/s carried end to end, create latency, and CPU milliseconds per order by process.

    PostgreSQL's figure counts its backends that exist at both ends of the run."""
    quiet = {"CONFIRM_DELAY_SECONDS": "0", "SHIP_DELAY_SECONDS": "0", "LOG_LEVEL": "WARNING"}
    with LocalSystem(
        env["DATABASE_URL"],
        env["KAFKA_BOOTSTRAP_SERVERS"],
        RELAY_INTERVAL_SECONDS="60",
        RELAY_MIN_AGE_SECONDS="5",
        **quiet,
    ) as system:
        _warm_up(system)
        stored_before = footprint.measure(env["DATABASE_URL"], env["KAFKA_BOOTSTRAP_SERVERS"])
        before = _cpu(system)
        run_id = f"bench-{uuid.uuid4()}"
        k6_env = {
            "BASE_URL": system.url("orders_http"),
            "RATE": str(rate),
            "DURATION": str(duration),
            "RUN_ID": run_id,
        }
        result = run_k6(
            "lifecycle.js",
            k6_env,
            results / "lifecycle.json",
            csv=results / "lifecycle.csv",
            latency_metric="http_req_duration{name:create}",
        )
        after = _cpu(system)
        time.sleep(footprint.STATISTICS_DELAY_SECONDS)
        stored_after = footprint.measure(env["DATABASE_URL"], env["KAFKA_BOOTSTRAP_SERVERS"])
    shipped, span, lag = asyncio.run(_span(env["DATABASE_URL"], run_id))
    kafka = asyncio.run(
        footprint.kafka_bytes(env["KAFKA_BOOTSTRAP_SERVERS"], stored_before, stored_after)
    )
    per_order = {
        name: (after[name] - before.get(name, 0.0)) * 1000 / max(shipped, 1) for name in after
    }
    return {
        "rate_asked": rate,
        "duration_s": duration,
        "orders_shipped": shipped,
        "orders_not_shipped": int(result.metrics.get("orders_not_shipped", {}).get("count", 0)),
        "first_create_to_last_ship_s": span,
        "last_create_to_last_ship_s": lag,
        "shipped_per_second": carried_per_second(shipped, duration, span, lag),
        "create_p50_ms": result.p50_ms,
        "create_p95_ms": result.p95_ms,
        "create_p99_ms": result.p99_ms,
        "thresholds_held": result.passed,
        "cpu_ms_per_order": per_order,
        "own_cpu_ms_per_order": sum(per_order[name] for name in OWN_FUNCTIONS),
        "bytes_per_order": footprint.per_order(stored_before, stored_after, kafka, shipped),
    }
