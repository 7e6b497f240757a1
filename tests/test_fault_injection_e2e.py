"""Fault injection: each test breaks one part under a stream of orders, then audits that every
order was created once, shipped once, and announced once per transition on every topic."""

import asyncio
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from shared.local.postgres import EmbeddedPostgres
from shared.runtime.auth import owned_key
from tests.faults import CreateStream, assert_shipped_exactly_once
from tests.support import migrated_postgres, order_body
from tests.system import LocalSystem

ZERO = {"CONFIRM_DELAY_SECONDS": "0", "SHIP_DELAY_SECONDS": "0", "RETRY_AFTER_SECONDS": "1"}


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A database this test may stop and start."""
    with migrated_postgres() as postgres:
        yield postgres


async def test_postgres_stopped_and_restarted_during_a_stream(
    own_postgres: EmbeddedPostgres, broker: str
) -> None:
    dsn = own_postgres.dsn("orders")
    with LocalSystem(dsn, broker, **ZERO) as running:
        running.wait_for_status([_create(running)], "SHIPPED")
        with CreateStream(lambda: running.url("orders_http")) as stream:
            time.sleep(2)
            own_postgres.stop()
            time.sleep(4)
            own_postgres.start()
            time.sleep(2)
        orders = stream.created
        assert stream.unavailable > 0, "the API never answered 503 while the database was down"
        running.wait_for_status(orders, "SHIPPED", within=180)
    db = await asyncpg.connect(dsn)
    try:
        await assert_shipped_exactly_once(db, broker, orders)
    finally:
        await db.close()


async def test_the_dispatcher_killed_and_restarted_redelivers(
    database_url: str, broker: str, db: asyncpg.Connection
) -> None:
    # A delay keeps deliveries in flight, so offsets are not yet committed at the kill.
    delays = {**ZERO, "CONFIRM_DELAY_SECONDS": "2"}
    with LocalSystem(database_url, broker, **delays) as running:
        running.wait_for_status([_create(running)], "SHIPPED")
        with CreateStream(lambda: running.url("orders_http")) as stream:
            time.sleep(3)
            running.kill("dispatch", signal.SIGKILL)
            time.sleep(1)
            running.start_dispatcher()
            time.sleep(2)
        running.wait_for_status(stream.created, "SHIPPED", within=180)
    await assert_shipped_exactly_once(db, broker, stream.created)


async def test_a_step_killed_mid_statement_leaves_both_or_neither_and_completes(
    database_url: str, broker: str, db: asyncpg.Connection
) -> None:
    """PostgreSQL may finish a dead client's statement (it notices the client only when it
    answers): the step's move and its event then commit together, and the relay publishes the
    event; or neither commits and the redelivery does the step. Either way, once."""
    # The delay leaves time to lock the new order's row before confirm reaches it.
    with LocalSystem(database_url, broker, **{**ZERO, "CONFIRM_DELAY_SECONDS": "2"}) as running:
        running.wait_for_status([_create(running)], "SHIPPED")
        locker = await asyncpg.connect(database_url)
        try:
            # Hold the row the order is stored in: confirm's statement waits for it.
            transaction = locker.transaction()
            await transaction.start()
            order_id = _create(running)
            await locker.execute(
                "SELECT 1 FROM orders WHERE id = $1 FOR UPDATE", uuid.UUID(order_id)
            )
            await _wait_for_lock_waiter(db)
            running.kill("confirm", signal.SIGKILL)
            await transaction.rollback()
        finally:
            await locker.close()
        await asyncio.sleep(0.5)
        state = await db.fetchrow(
            "SELECT o.status, count(e.id) FILTER (WHERE e.type = 'orders.order.confirmed') AS n"
            " FROM orders o LEFT JOIN outbox e ON e.order_id = o.id WHERE o.id = $1"
            " GROUP BY o.status",
            uuid.UUID(order_id),
        )
        assert (state["status"], state["n"]) in {("CREATED", 0), ("CONFIRMED", 1)}
        running.start_function("confirm")
        running.wait_for_status([order_id], "SHIPPED", within=120)
    await assert_shipped_exactly_once(db, broker, [order_id])


async def test_a_create_killed_mid_transaction_leaves_nothing_and_is_retried(
    database_url: str, broker: str, db: asyncpg.Connection
) -> None:
    with LocalSystem(database_url, broker, **ZERO) as running:
        running.wait_for_status([_create(running)], "SHIPPED")
        before = await db.fetchval("SELECT count(*) FROM orders")
        locker = await asyncpg.connect(database_url)
        try:
            transaction = locker.transaction()
            await transaction.start()
            # The key is claimed, then the INSERT waits for this lock: SIGKILL falls in between.
            await locker.execute("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
            key = {"Idempotency-Key": "killed-mid-transaction"}
            _kill_when_waiting(running, "orders_http")
            url = f"{running.url('orders_http')}/"
            async with httpx.AsyncClient(timeout=30) as client:
                with pytest.raises(httpx.TransportError):
                    await client.post(url, json=order_body(), headers=key)
            await transaction.rollback()
        finally:
            await locker.close()
        assert await db.fetchval("SELECT count(*) FROM orders") == before
        claimed = "SELECT count(*) FROM idempotency_keys WHERE key = $1"
        assert await db.fetchval(claimed, owned_key(None, "killed-mid-transaction")) == 0
        running.start_function("orders_http")
        retried = httpx.post(f"{running.url('orders_http')}/", json=order_body(), headers=key)
        assert retried.status_code == 201
        order_id = retried.json()["id"]
        running.wait_for_status([order_id], "SHIPPED", within=120)
    await assert_shipped_exactly_once(db, broker, [order_id])


async def test_two_replicas_of_every_function_and_two_dispatchers(
    database_url: str, broker: str, db: asyncpg.Connection
) -> None:
    with (
        LocalSystem(database_url, broker, **ZERO) as first,
        LocalSystem(database_url, broker, **ZERO) as second,
    ):
        first.wait_for_status([_create(first), _create(second)], "SHIPPED", within=120)
        turn = iter(range(1_000_000))
        systems = (first, second)
        with CreateStream(lambda: systems[next(turn) % 2].url("orders_http"), 20) as stream:
            time.sleep(5)
        first.wait_for_status(stream.created, "SHIPPED", within=120)
    await assert_shipped_exactly_once(db, broker, stream.created)


def _create(system: LocalSystem) -> str:
    answer = httpx.post(f"{system.url('orders_http')}/", json=order_body(), timeout=30)
    assert answer.status_code == 201, answer.text
    order_id: str = answer.json()["id"]
    return order_id


async def _wait_for_lock_waiter(db: asyncpg.Connection, within: float = 30) -> None:
    deadline = time.monotonic() + within
    query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    while not await db.fetchval(query):
        assert time.monotonic() < deadline, "nothing ever waited for the lock"
        await asyncio.sleep(0.05)


def _kill_when_waiting(system: LocalSystem, target: str) -> None:
    """SIGKILL `target` as soon as a statement waits for a lock (watched from a thread)."""

    async def wait() -> None:
        conn = await asyncpg.connect(system.env["DATABASE_URL"])
        try:
            await _wait_for_lock_waiter(conn)
        finally:
            await conn.close()

    def watch() -> None:
        asyncio.run(wait())
        system.kill(target, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
