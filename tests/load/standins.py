"""What each piece the project does itself saves over the library's own way, measured side by
side on the bench's database and broker, in CPU microseconds of the calling process per call.

The project keeps such a piece only where the saving is over 2% of the whole stack's CPU per
order (the lifecycle run's figure); `verdicts` says which hold.
"""

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from shared.db import Database
from shared.deadlines import Deadlines
from shared.kafka import Message, producer_options, send_batched
from shared.settings import Settings

# Per order: its three lifecycle events; the connections a create, a confirm and a ship take;
# the deadlines those three requests and three acquires run under.
CALLS_PER_ORDER = {"batched send": 3, "pool release without RESET ALL": 3, "swept deadlines": 6}
TOPIC = "orders.created"
WORKERS = 32


def _cpu_us_per_call(seconds: float, calls: int) -> float:
    return seconds * 1e6 / calls


async def _cpu_of(work: Callable[[], Awaitable[Any]], calls: int) -> float:
    started = time.process_time()
    await work()
    return _cpu_us_per_call(time.process_time() - started, calls)


async def _sends(settings: Settings, batches: int) -> dict[str, float]:
    """One batch per partition (`send_batched`) against aiokafka's `send` per message, in
    publishes of 20 events as the publisher makes them under load."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**producer_options(settings))
    await producer.start()
    value = os.urandom(300).hex().encode()
    messages = [
        [Message(TOPIC, f"key-{b}-{n}".encode(), value, [("ce_id", b"x")]) for n in range(20)]
        for b in range(batches)
    ]

    async def batched() -> None:
        for batch in messages:
            await send_batched(producer, batch)

    async def one_by_one() -> None:
        for batch in messages:
            sent = [
                await producer.send(m.topic, m.value, key=m.key, headers=m.headers) for m in batch
            ]
            await asyncio.gather(*sent)

    try:
        await batched()  # warm: metadata, connections
        calls = batches * 20
        return {
            "project": await _cpu_of(batched, calls),
            "library": await _cpu_of(one_by_one, calls),
        }
    finally:
        await producer.stop()


async def _releases(settings: Settings, cycles: int) -> dict[str, float]:
    """A connection taken, used once and given back by 32 workers: the project's pool (no
    RESET ALL on release, acquire under a swept deadline) against asyncpg's defaults."""
    database = Database(settings)
    pool = await asyncpg.create_pool(
        settings.postgres_dsn,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
    )

    async def project() -> None:
        async with database.connection() as conn:
            await conn.fetchval("SELECT 1")

    async def library() -> None:
        async with pool.acquire(timeout=5) as conn:
            await conn.fetchval("SELECT 1")

    async def run(cycle: Callable[[], Awaitable[None]]) -> None:
        async def worker() -> None:
            for _ in range(cycles // WORKERS):
                await cycle()

        await asyncio.gather(*(worker() for _ in range(WORKERS)))

    try:
        await run(project)
        await run(library)
        calls = cycles // WORKERS * WORKERS
        return {
            "project": await _cpu_of(lambda: run(project), calls),
            "library": await _cpu_of(lambda: run(library), calls),
        }
    finally:
        await database.close()
        await pool.close()


async def _deadlines(calls: int) -> dict[str, float]:
    """A request's deadline: one sweeping task (`Deadlines`) against `asyncio.timeout`."""
    deadlines = Deadlines(30)

    async def work() -> None:
        await asyncio.sleep(0)

    async def swept() -> None:
        for _ in range(calls):
            await deadlines.run(work())

    async def timed() -> None:
        for _ in range(calls):
            async with asyncio.timeout(30):
                await work()

    async def bare() -> None:
        for _ in range(calls):
            await work()

    base = await _cpu_of(bare, calls)
    return {
        "project": await _cpu_of(swept, calls) - base,
        "library": await _cpu_of(timed, calls) - base,
    }


def run(env: dict[str, str]) -> dict[str, dict[str, float]]:
    """µs per call, the project's way and the library's, on the bench's database and broker."""
    import uvloop

    settings = Settings(
        database_url=env["DATABASE_URL"], kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"]
    )

    async def all_of_them() -> dict[str, dict[str, float]]:
        return {
            "batched send": await _sends(settings, 200),
            "pool release without RESET ALL": await _releases(settings, 20_000),
            "swept deadlines": await _deadlines(100_000),
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
