"""Lifecycle under faults: each test runs its own system, so its settings and kills stay its own."""

import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import asyncpg
import httpx

from shared.domain.events import ALL_TOPICS
from shared.local.broker import EmbeddedBroker
from shared.messaging.kafka import ensure_topics
from shared.settings import get_settings
from tests.faults import CreateStream, assert_shipped_exactly_once
from tests.kafka_support import wait_for_records
from tests.support import ROOT, free_port
from tests.system import LocalSystem
from tests.test_lifecycle_e2e import _create, _outbox_types


async def test_a_function_killed_mid_delay_completes_the_order_once_redelivered(
    database_url: str, broker: str, db: asyncpg.Connection
) -> None:
    with LocalSystem(
        database_url, broker, CONFIRM_DELAY_SECONDS="4", SHIP_DELAY_SECONDS="0"
    ) as running:
        _create(running, 1)  # warm-up: the sources have joined their groups once this one ships
        running.wait_for_status(_create(running, 1), "SHIPPED")
        [order_id] = _create(running, 1)
        time.sleep(1.5)
        assert httpx.get(f"{running.url('orders_http')}/{order_id}").json()["status"] == "CREATED"
        running.kill("confirm", signal.SIGKILL)
        time.sleep(1)
        running.start_function("confirm")
        running.wait_for_status([order_id], "SHIPPED")
    counts = await _outbox_types(db, [order_id])
    assert counts[(order_id, "orders.order.confirmed")] == 1
    assert counts[(order_id, "orders.order.shipped")] == 1


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


async def test_broker_down_during_a_stream_of_creates_loses_nothing(
    database_url: str, db: asyncpg.Connection
) -> None:
    """The broker is cut off (a proxy in front of it stops) under a stream of creates, then
    comes back with its data, as a Kafka broker does after an outage."""
    proxy_port = free_port()
    broker = EmbeddedBroker(free_port(), advertised_port=proxy_port)
    broker.start()
    proxy = _start_proxy(proxy_port, broker.port)
    settings = get_settings().model_copy(
        update={"kafka_bootstrap_servers": broker.bootstrap_servers}
    )
    await ensure_topics(settings, ALL_TOPICS, partitions=3)
    env = {
        "CONFIRM_DELAY_SECONDS": "0",
        "SHIP_DELAY_SECONDS": "0",
        "KAFKA_REQUEST_TIMEOUT_MS": "1000",
    }
    try:
        with LocalSystem(database_url, broker.bootstrap_servers, **env) as running:
            running.wait_for_status(_create(running, 1), "SHIPPED")
            with CreateStream(lambda: running.url("orders_http")) as stream:
                time.sleep(2)
                proxy.kill()
                proxy.wait()
                time.sleep(4)  # long enough for every first publish to give up
                unpublished = await db.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
                proxy = _start_proxy(proxy_port, broker.port)
                time.sleep(2)
            assert unpublished > 0, "the broker was down: events must have waited in the outbox"
            running.wait_for_status(stream.created, "SHIPPED", within=180)
            await assert_shipped_exactly_once(db, broker.bootstrap_servers, stream.created)
    finally:
        proxy.kill()
        broker.stop()


def _start_proxy(listen_port: int, target_port: int) -> subprocess.Popen[bytes]:
    proxy = subprocess.Popen(
        [sys.executable, "-m", "tests.tcp_proxy", str(listen_port), str(target_port)], cwd=ROOT
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", listen_port), timeout=1).close()
            return proxy
        except OSError:
            assert time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.05)
