"""A part the functions depend on goes away under a stream of creates and comes back (the
broker, PostgreSQL): clients see 503s at worst, and every order is created, shipped and
announced once."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import asyncpg
import pytest

from shared.domain.events import ALL_TOPICS
from shared.local.broker import EmbeddedBroker
from shared.local.postgres import EmbeddedPostgres
from shared.messaging.kafka import ensure_topics
from shared.settings import get_settings
from tests.faults import ZERO, CreateStream, assert_shipped_exactly_once, create_order
from tests.support import ROOT, free_port, migrated_postgres
from tests.system import LocalSystem


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
        running.wait_for_status([create_order(running)], "SHIPPED")
        with CreateStream(lambda: running.url("orders_http")) as stream:
            time.sleep(2)
            own_postgres.stop()
            # Down until a create has been refused: a create that waits for the database can
            # outlast a fixed outage and see none.
            deadline = time.monotonic() + 60
            while stream.unavailable == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
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
            running.wait_for_status([create_order(running)], "SHIPPED")
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
