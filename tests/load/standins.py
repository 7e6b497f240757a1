"""What each piece the project does itself saves over the library's own way, measured side by
side on the bench's database and broker, in CPU microseconds per call: of the calling process,
PostgreSQL (every backend) and the broker together: a RESET ALL costs the database more than
the caller.

The project keeps such a piece only where the saving is over 2% of the whole stack's CPU per
order (the lifecycle run's figure); `verdicts` says which hold.
"""

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from shared.settings import Settings
from shared.store.db import keep_session

# Per order: the connections a create, a confirm and a ship take.
CALLS_PER_ORDER = {"pool release without RESET ALL": 3}
WORKERS = 32
# The whole stack's CPU per order in the README's lifecycle row, for `--only standins`.
LAST_STACK_CPU_US_PER_ORDER = 3400.0


def _ports(env: dict[str, str]) -> set[str]:
    database = urlsplit(env["DATABASE_URL"]).port
    broker = env["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1]
    return {str(database), broker}


def _stat(pid: str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


class StackCpu:
    """CPU seconds of this process, and of the database and broker serving it: the processes
    whose command line names one of their ports, their children, and children they reaped."""

    def __init__(self, env: dict[str, str]) -> None:
        self._ports = _ports(env)

    def seconds(self) -> float:
        roots: set[str] = set()
        stats: dict[str, list[str]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                words = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().split()
                stats[entry.name] = _stat(entry.name)
            except (OSError, UnicodeDecodeError):
                continue  # gone meanwhile
            # `-p 25808` (postgres), `--listener-url tcp://127.0.0.1:25809` (the broker)
            if any(word.rsplit(":", 1)[-1] in self._ports for word in words):
                roots.add(entry.name)
        ticks = 0
        for pid, fields in stats.items():
            if pid in roots:
                ticks += sum(int(field) for field in fields[11:15])  # own and reaped children
            elif fields[1] in roots:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK") + time.process_time()


async def _cpu_of(stack: StackCpu, work: Callable[[], Awaitable[Any]], calls: int) -> float:
    started = stack.seconds()
    await work()
    return (stack.seconds() - started) * 1e6 / calls


async def _releases(stack: StackCpu, settings: Settings, cycles: int) -> dict[str, float]:
    """A connection taken, used once and given back by 32 workers: released without asyncpg's
    RESET ALL (the project's `reset`) against with it (asyncpg's default)."""

    async def run(pool: asyncpg.Pool) -> None:
        async def worker() -> None:
            for _ in range(cycles // WORKERS):
                async with pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")

        await asyncio.gather(*(worker() for _ in range(WORKERS)))

    figures: dict[str, float] = {}
    for name, reset in (("project", {"reset": keep_session}), ("library", {})):
        pool = await asyncpg.create_pool(
            settings.postgres_dsn,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            **reset,
        )
        try:
            await run(pool)  # warm
            cycle = functools.partial(run, pool)
            figures[name] = await _cpu_of(stack, cycle, cycles // WORKERS * WORKERS)
        finally:
            await pool.close()
    return figures


def run(env: dict[str, str]) -> dict[str, dict[str, float]]:
    """µs per call, the project's way and the library's, on the bench's database and broker."""
    import uvloop

    settings = Settings(
        database_url=env["DATABASE_URL"], kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"]
    )

    stack = StackCpu(env)

    async def all_of_them() -> dict[str, dict[str, float]]:
        return {
            "pool release without RESET ALL": await _releases(stack, settings, 20_000),
        }

    return uvloop.run(all_of_them())  # the functions' event loop


def verdicts(
    measured: dict[str, dict[str, float]], stack_cpu_us_per_order: float
) -> dict[str, dict[str, float | bool]]:
    """Per piece: µs saved per order and its share of the whole stack's CPU per order."""
    rows: dict[str, dict[str, float | bool]] = {}
    for name, figures in measured.items():
        saved = (figures["library"] - figures["project"]) * CALLS_PER_ORDER[name]
        share = saved / stack_cpu_us_per_order if stack_cpu_us_per_order else 0.0
        rows[name] = {**figures, "saved_us_per_order": saved, "share": share, "kept": share > 0.02}
    return rows
