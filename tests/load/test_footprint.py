"""The lifecycle run's bytes per order: read from the real database and broker."""

import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from shared.messaging.kafka import ensure_topics
from shared.settings import get_settings
from tests.load import footprint
from tests.load.seed import Plan, seed

RECORDS = [
    (b"order-1", b'{"a": 1}', [("ce_id", b"1"), ("ce_type", b"orders.order.created")]),
    (b"order-2", b'{"b": 22}', [("ce_id", b"2")]),
    (b"order-3", b"", []),
]


async def test_kafka_bytes_are_those_of_the_records_written_in_between(broker: str) -> None:
    # Topics of the test's own: a publisher left by another test cannot write to them.
    topics = tuple(f"footprint-{uuid.uuid4().hex[:8]}-{n}" for n in range(2))
    settings = get_settings().model_copy(update={"kafka_bootstrap_servers": broker})
    await ensure_topics(settings, topics, partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        await producer.send_and_wait(topics[0], b"before", key=b"k")
        before = await footprint.footprint_of_broker(broker, topics)
        for topic in topics:
            for key, value, headers in RECORDS:
                await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()
    after = await footprint.footprint_of_broker(broker, topics)
    expected = len(topics) * sum(footprint.record_bytes(*record) for record in RECORDS)
    assert expected == len(topics) * ((7 + 8 + 6 + 27) + (7 + 9 + 6) + 7)
    assert await footprint.kafka_bytes(broker, before, after) == expected


@pytest.mark.usefixtures("db")
async def test_tables_indexes_and_wal_grow_with_the_orders(database_url: str, broker: str) -> None:
    before = await footprint.footprint(database_url, broker)
    plan = Plan(orders=2000, ids="uuid7", rate=10, confirm_delay=10, ship_delay=10, key_share=0.5)
    await seed(database_url, plan, progress=lambda _: None)
    after = await footprint.footprint(database_url, broker)
    grown = footprint.per_order(before, after, kafka=0, orders=2000)
    # An order is a row of a few hundred bytes and about three events: well over 100 bytes
    # of table and of WAL each, and some index.
    assert grown["table"] > 100
    assert grown["index"] > 10
    assert grown["wal"] > 100
    assert grown["kafka"] == 0
    # The outbox's rows lie in its partitions, which count (its parent has no storage).
    conn = await asyncpg.connect(database_url)
    try:
        outbox, orders = await conn.fetchrow(
            "SELECT (SELECT sum(pg_table_size(relid)) FROM pg_partition_tree('outbox')),"
            " pg_table_size('orders')"
        )
    finally:
        await conn.close()
    assert outbox > 2000 * 3 * 100
    assert after.tables >= outbox + orders


async def test_commits_are_counted(database_url: str, broker: str) -> None:
    before = await footprint.footprint(database_url, broker)
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(5):
            await conn.execute("SELECT 1")
        await conn.execute("SELECT pg_stat_force_next_flush()")
    finally:
        await conn.close()
    after = await footprint.footprint(database_url, broker)
    assert after.commits - before.commits >= 5
