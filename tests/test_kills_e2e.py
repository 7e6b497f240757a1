"""A process SIGKILLed in the middle of its work (a step in its delay or its statement, a
create in its transaction, the dispatcher with deliveries in flight): what it did commits whole
or not at all, and once it is back every order completes, created, moved and announced once."""

import asyncio
import signal
import threading
import time
import uuid

import asyncpg
import httpx
import pytest

from shared.runtime.auth import owned_key
from tests.faults import ZERO, CreateStream, assert_shipped_exactly_once, create_order
from tests.support import order_body
from tests.system import LocalSystem
from tests.test_whole_life_e2e import _outbox_types


async def test_a_function_killed_mid_delay_completes_the_order_once_redelivered(
    database_url: str, broker: str, db: asyncpg.Connection
) -> None:
    with LocalSystem(
        database_url, broker, CONFIRM_DELAY_SECONDS="4", SHIP_DELAY_SECONDS="0"
    ) as running:
        create_order(running)  # warm-up: the sources have joined their groups once this one ships
        running.wait_for_status([create_order(running)], "SHIPPED")
        order_id = create_order(running)
        time.sleep(1.5)
        assert httpx.get(f"{running.url('orders_http')}/{order_id}").json()["status"] == "CREATED"
        running.kill("confirm", signal.SIGKILL)
        time.sleep(1)
        running.start_function("confirm")
        running.wait_for_status([order_id], "SHIPPED")
    counts = await _outbox_types(db, [order_id])
    assert counts[(order_id, "orders.order.confirmed")] == 1
    assert counts[(order_id, "orders.order.shipped")] == 1


async def test_the_dispatcher_killed_and_restarted_redelivers(
    database_url: str, broker: str, db: asyncpg.Connection
) -> None:
    # A delay keeps deliveries in flight, so offsets are not yet committed at the kill.
    delays = {**ZERO, "CONFIRM_DELAY_SECONDS": "2"}
    with LocalSystem(database_url, broker, **delays) as running:
        running.wait_for_status([create_order(running)], "SHIPPED")
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
        running.wait_for_status([create_order(running)], "SHIPPED")
        locker = await asyncpg.connect(database_url)
        try:
            # Hold the row the order is stored in: confirm's statement waits for it.
            transaction = locker.transaction()
            await transaction.start()
            order_id = create_order(running)
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
        running.wait_for_status([create_order(running)], "SHIPPED")
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
