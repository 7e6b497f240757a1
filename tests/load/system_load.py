"""The lifecycle benchmark: the whole system, zero delays, k6 at a constant arrival rate."""

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
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
       extract(epoch FROM max(shipped_at) - max(created_at))::float8,
       count(*),
       extract(epoch FROM min(created_at))::float8
FROM orders WHERE customer_id = $1"""
# The pipeline kept pace when its last order shipped within this long of the last create.
KEPT_PACE_SECONDS = 1.0


async def _span(dsn: str, run_id: str) -> tuple[int, float, float, int, float]:
    """Orders of the run that reached SHIPPED, seconds from its first create to its last ship,
    seconds from its last create to its last ship, orders created, and its first create's time
    (seconds since the epoch)."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(SPAN, run_id)
    finally:
        await conn.close()
    return row[0], row[1] or 0.0, row[2] or 0.0, row[3], row[4] or 0.0


def _child_named(name: str) -> int | None:
    """A child of this process by its command name (`run_k6` starts k6 and waits for it)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        if comm == name and int(text.rsplit(")", 1)[1].split()[1]) == os.getpid():
            return int(stat.parent.name)
    return None


class _CpuSamples(threading.Thread):
    """CPU of k6, and once the load can have ended of every process of the stack, every half
    second: the run's figures are then read where its load ended, before k6's check lists every
    order (that listing is no order's cost), and k6's without its start-up."""

    def __init__(self, system: LocalSystem, duration: int) -> None:
        super().__init__(daemon=True)
        self.system, self.duration = system, duration
        self.k6: list[tuple[float, float]] = []  # (time, k6's CPU seconds)
        self.stack: list[tuple[float, dict[str, float]]] = []
        self.done = threading.Event()

    def run(self) -> None:
        started, pid = time.time(), None
        while not self.done.wait(0.5):
            pid = pid or _child_named("k6")
            with contextlib.suppress(OSError):  # k6 has just ended
                self.k6.append((time.time(), cpu_seconds(pid) if pid else 0.0))
            if time.time() - started > self.duration:
                self.stack.append((time.time(), _cpu(self.system)))

    def k6_seconds(self, start: float, end: float) -> float:
        return _at(self.k6, end) - _at(self.k6, start)

    def stack_between(self, start: float, end: float) -> dict[str, float] | None:
        """The last sample of the stack taken between `start` and `end`, if one was."""
        within = [usage for when, usage in self.stack if start <= when <= end]
        return within[-1] if within else None


def _at(samples: list[tuple[float, float]], moment: float) -> float:
    """The last sample taken by `moment` (the first one when none was)."""
    earlier = [value for when, value in samples if when <= moment]
    return earlier[-1] if earlier else (samples[0][1] if samples else 0.0)


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


def lifecycle_run(
    env: dict[str, str],
    rate: int,
    duration: int,
    results: Path,
    *,
    name: str = "lifecycle",
    k6_settings: Mapping[str, str] | None = None,
    under_load: Callable[[LocalSystem], None] | None = None,
) -> dict[str, Any]:
    """Orders/s carried end to end, create latency, and CPU milliseconds per order by process.

    PostgreSQL's figure counts its backends that exist at both ends of the run. `k6_settings`
    go to the script besides the rate (e.g. its thresholds); `under_load` is called as the load
    starts (it must return at once); the summary goes to `<name>.json` in `results`, and for
    the lifecycle run also every request to `<name>.csv`, for the latency chart."""
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
            **(k6_settings or {}),
        }
        samples = _CpuSamples(system, duration)
        samples.start()
        if under_load is not None:
            under_load(system)
        # No CSV beside the lifecycle run's own: k6 writing a line per metric per request
        # takes CPU from the two cores it shares with the stack.
        result = run_k6(
            "lifecycle.js",
            k6_env,
            results / f"{name}.json",
            csv=results / f"{name}.csv" if name == "lifecycle" else None,
            latency_metric="http_req_duration{name:create}",
        )
        after = _cpu(system)
        samples.done.set()
        samples.join()
        time.sleep(footprint.STATISTICS_DELAY_SECONDS)
        stored_after = footprint.measure(env["DATABASE_URL"], env["KAFKA_BOOTSTRAP_SERVERS"])
    shipped, span, lag, created, first_create = asyncio.run(_span(env["DATABASE_URL"], run_id))
    kafka = asyncio.run(
        footprint.kafka_bytes(env["KAFKA_BOOTSTRAP_SERVERS"], stored_before, stored_after)
    )
    load_end = first_create + duration
    per_order = _per_order(before, after, shipped)
    # k6's check starts listing the orders a second after the load ends.
    window = samples.stack_between(load_end, load_end + KEPT_PACE_SECONDS)
    k6_seconds = samples.k6_seconds(first_create, load_end)
    metrics = result.metrics
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
        "orders_created": created,
        "create_failures": int(metrics.get("create_failures", {}).get("count", 0)),
        "dropped_iterations": int(metrics.get("dropped_iterations", {}).get("count", 0)),
        "verify_checks_failed": int(metrics.get("checks{scenario:verify}", {}).get("fails", 0)),
        # From the first create to within a second after the load ended (orders in flight
        # included, when the pipeline kept pace); the run's whole figure when no sample fell there.
        "load_cpu_ms_per_order": _per_order(before, window, shipped) if window else per_order,
        "load_cpu_read_at_load_end": window is not None,
        "k6_cpu_ms_per_order": k6_seconds * 1000 / max(shipped, 1),
        "k6_cores": k6_seconds / duration,
        "bytes_per_order": footprint.per_order(stored_before, stored_after, kafka, shipped),
    }


def _per_order(before: dict[str, float], after: dict[str, float], orders: int) -> dict[str, float]:
    return {name: (after[name] - before.get(name, 0.0)) * 1000 / max(orders, 1) for name in after}
