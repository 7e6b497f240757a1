"""bench-scale's profile of a row: what each request cost the database (blocks per relation,
I/O per backend type, WAL) and where orders_http spent its CPU (py-spy), plus the list's plan.

PostgreSQL's built-in statistics only: the embedded server has no contrib modules, so no
pg_stat_statements. Blocks "read" came from outside shared_buffers (the page cache or disk);
`track_io_timing` is turned on so that pg_stat_io also says how long those reads took.
"""

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from shared.store.order_store import LIST_ORDERS
from tests.load.stack import cpu_seconds

PY_SPY = Path(sys.executable).parent / "py-spy"
# A backend with stats pending flushes them when idle for 10 s (PGSTAT_IDLE_INTERVAL): a
# snapshot taken sooner misses the end of the row before it.
STATS_SETTLE_SECONDS = 11.0
TOP = 5
_BLOCKS = """
SELECT relname, heap_blks_hit, heap_blks_read FROM pg_statio_user_tables
UNION ALL SELECT relname || ' toast', toast_blks_hit, toast_blks_read
  FROM pg_statio_user_tables WHERE toast_blks_hit IS NOT NULL
UNION ALL SELECT indexrelname, idx_blks_hit, idx_blks_read FROM pg_statio_user_indexes"""
_IO = """
SELECT backend_type, sum(coalesce(reads, 0))::float8, sum(coalesce(read_time, 0))::float8,
  sum(coalesce(writes, 0))::float8, sum(coalesce(extends, 0))::float8,
  sum(coalesce(fsyncs, 0))::float8
FROM pg_stat_io GROUP BY backend_type"""
IO_FIELDS = ("reads", "read ms", "writes", "extends", "fsyncs")

Snapshot = dict[str, dict[str, tuple[float, ...]]]


async def snapshot(dsn: str) -> Snapshot:
    await asyncio.sleep(STATS_SETTLE_SECONDS)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER SYSTEM SET track_io_timing = on")
        await conn.execute("SELECT pg_reload_conf()")
        blocks = {r[0]: (float(r[1] or 0), float(r[2] or 0)) for r in await conn.fetch(_BLOCKS)}
        io = {r[0]: tuple(r[1:]) for r in await conn.fetch(_IO)}
        wal = await conn.fetchrow("SELECT wal_bytes::float8, wal_fpi::float8 FROM pg_stat_wal")
    finally:
        await conn.close()
    return {"blocks": blocks, "io": io, "wal": {"wal": (wal[0], wal[1])}}


def per_request(before: Snapshot, after: Snapshot, requests: float) -> dict[str, Any]:
    """The difference of two snapshots per request: the relations most touched (hit + read),
    the backend types that did any I/O, the WAL."""

    def deltas(kind: str) -> dict[str, list[float]]:
        found = {}
        for name, now in after[kind].items():
            was = before[kind].get(name, (0.0,) * len(now))
            found[name] = [(a - b) / max(requests, 1) for a, b in zip(now, was, strict=True)]
        return found

    blocks = sorted(deltas("blocks").items(), key=lambda item: -sum(item[1]))
    io = {name: values for name, values in deltas("io").items() if any(values)}
    wal_bytes, fpi = deltas("wal")["wal"]
    return {
        "blocks": [[name, hit, read] for name, (hit, read) in blocks[:TOP] if hit + read > 0],
        "io": io,
        "wal bytes": wal_bytes,
        "wal fpi": fpi,
    }


def top_functions(raw: str, count: int = TOP) -> list[tuple[str, float]]:
    """py-spy's raw (collapsed) stacks, `frame;frame;leaf count` a line: the functions that
    were on top of the stack most often (own time; every line of a function together), with
    their share of all samples in percent."""
    own: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        function, _, where = leaf.partition(" (")
        # The file without its line (every line of a function together) or its folders.
        where = "/".join(where.rstrip(")").rsplit(":", 1)[0].split("/")[-2:])
        own[f"{function} ({where})" if where else function] += int(samples)
    total = sum(own.values())
    return [(name, 100 * n / total) for name, n in own.most_common(count)] if total else []


def profiled(
    dsn: str, pid: int, seconds: int, workdir: Path, row: Callable[[], dict[str, float]]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Runs `row` (wrk) between two snapshots, py-spy sampling `pid` meanwhile."""
    before = asyncio.run(snapshot(dsn))
    cpu = cpu_seconds(pid)
    raw = workdir / f"py-spy-{pid}.txt"
    command = [str(PY_SPY), "record", "-d", str(seconds), "-f", "raw", "-o", str(raw)]
    spy = subprocess.Popen(
        [*command, "--pid", str(pid), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        figures = row()
        cpu = cpu_seconds(pid) - cpu
    finally:
        spy.wait(seconds + 30)
    after = asyncio.run(snapshot(dsn))
    profile = per_request(before, after, figures["rps"] * seconds)
    profile["cpu ms"] = 1000 * cpu / max(figures["rps"] * seconds, 1)
    profile["py-spy"] = top_functions(raw.read_text()) if raw.exists() else []
    return figures, profile


async def list_plan(dsn: str, customers: list[str]) -> str:
    """The list's plan for the first customer as the service runs it: a prepared statement
    (asyncpg's), executed often enough (for the others) that PostgreSQL may have switched to its
    generic plan, which shows `$3` where a custom plan shows the customer."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"PREPARE page AS {LIST_ORDERS}")
        for customer in customers[1:7]:
            await conn.execute(f"EXECUTE page(0, NULL, {_quote(customer)}, 21)")
        rows = await conn.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE page(0, NULL, {_quote(customers[0])}, 21)"
        )
    finally:
        await conn.close()
    return "\n".join(row[0] for row in rows)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def render(run: dict[str, Any]) -> list[str]:
    """A run's profile as markdown, per request of each profiled row."""
    lines = [f"#### Profile at {run['size']:,} orders, {run['ids']} (per request)", ""]
    for row, profile in run.get("profile", {}).items():
        blocks = ", ".join(f"{n} {hit:.1f}/{read:.2f}" for n, hit, read in profile["blocks"])
        lines.append(f"- {row}: shared blocks hit/read: {blocks or 'none'}")
        for backend, values in sorted(profile["io"].items()):
            io = ", ".join(f"{f} {v:.3f}" for f, v in zip(IO_FIELDS, values, strict=True) if v)
            lines.append(f"  - pg_stat_io, {backend}: {io}")
        wal = f"{profile['wal bytes']:,.0f} B ({profile['wal fpi']:.2f} full-page images)"
        lines.append(f"  - WAL: {wal}")
        spy = ", ".join(f"{name} {share:.1f}%" for name, share in profile["py-spy"])
        cpu = f"{profile['cpu ms']:.2f} ms of CPU; " if "cpu ms" in profile else ""
        lines.append(f"  - orders_http: {cpu}py-spy, own time: {spy or 'no samples'}")
    if "list plan" in run:
        lines += ["", "The list's plan, one sampled customer:", "", "```", run["list plan"], "```"]
    return lines
