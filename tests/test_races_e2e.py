"""Racing actors, each with its own system: two replicas of every function and two dispatchers
under a stream, and a delete while the order's step waits out its delay. Each order changes and
is announced once, and a deleted one not at all."""

import time
from collections import Counter

import asyncpg
import httpx

from tests.faults import ZERO, CreateStream, assert_shipped_exactly_once
from tests.kafka_support import wait_for_records
from tests.system import LocalSystem
from tests.test_whole_life_e2e import _create, _outbox_types


async def test_two_replicas_of_every_function_and_two_dispatchers(
    database_url: str, broker: str, db: asyncpg.Connection
) -> None:
    with (
        LocalSystem(database_url, broker, **ZERO) as first,
        LocalSystem(database_url, broker, **ZERO) as second,
    ):
        first.wait_for_status([*_create(first, 1), *_create(second, 1)], "SHIPPED", within=120)
        turn = iter(range(1_000_000))
        systems = (first, second)
        with CreateStream(lambda: systems[next(turn) % 2].url("orders_http"), 20) as stream:
            time.sleep(5)
        first.wait_for_status(stream.created, "SHIPPED", within=120)
    await assert_shipped_exactly_once(db, broker, stream.created)


async def test_a_deleted_orders_pending_event_is_acknowledged_and_dropped(
    database_url: str, broker: str, db: asyncpg.Connection
) -> None:
    with LocalSystem(
        database_url, broker, CONFIRM_DELAY_SECONDS="2", SHIP_DELAY_SECONDS="0"
    ) as running:
        running.wait_for_status(_create(running, 1), "SHIPPED")
        [order_id] = _create(running, 1)
        assert httpx.delete(f"{running.url('orders_http')}/{order_id}").status_code == 204
        deadline = time.monotonic() + 60
        while 'outcome="obsolete"' not in httpx.get(f"{running.url('confirm')}/metrics").text:
            assert time.monotonic() < deadline, "confirm never saw the deleted order's event"
            time.sleep(0.2)
    counts = await _outbox_types(db, [order_id])
    assert counts == Counter(
        {(order_id, "orders.order.created"): 1, (order_id, "orders.order.deleted"): 1}
    )
    assert await wait_for_records(broker, ("orders.dlq",), {order_id}, 1, within=2) == []
