"""Bytes an order leaves behind, measured over a lifecycle run: table and index growth, WAL,
and the Kafka records of its events (key, value and headers, before the broker's framing)."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.domain.events import TOPICS

TABLES = ("orders", "outbox", "idempotency_keys")
# Each table with its partitions, if any (the outbox's: its parent has no storage of its own;
# pg_partition_tree has no row for a table that is not partitioned).
SIZES = """
SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS wal,
       sum(pg_table_size(p.relid))::bigint AS tables,
       sum(pg_indexes_size(p.relid))::bigint AS indexes,
       (SELECT wal_sync FROM pg_stat_wal) AS wal_syncs,
       (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS commits
FROM unnest($1::text[]) AS t CROSS JOIN LATERAL (
  SELECT t::regclass AS relid UNION SELECT relid FROM pg_partition_tree(t::regclass)) AS p"""
# A backend reports its statistics when idle, at most this long after its last transaction.
STATISTICS_DELAY_SECONDS = 11


@dataclass(frozen=True)
class Footprint:
    wal: int
    tables: int
    indexes: int
    kafka_offsets: dict[tuple[str, int], int]
    wal_syncs: int = 0
    commits: int = 0


async def footprint(dsn: str, bootstrap_servers: str) -> Footprint:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(SIZES, list(TABLES))
    finally:
        await conn.close()
    broker = await footprint_of_broker(bootstrap_servers)
    return Footprint(
        int(row["wal"]),
        row["tables"],
        row["indexes"],
        broker.kafka_offsets,
        row["wal_syncs"],
        row["commits"],
    )


async def footprint_of_broker(
    bootstrap_servers: str, topics: Sequence[str] = tuple(TOPICS.values())
) -> Footprint:
    """The end offsets of `topics` (the event topics) alone."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return Footprint(0, 0, 0, {(tp.topic, tp.partition): offset for tp, offset in ends.items()})


async def kafka_bytes(bootstrap_servers: str, before: Footprint, after: Footprint) -> int:
    """Key, value and header bytes of the records written between the two footprints."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    total = 0
    try:
        wanted = {
            TopicPartition(*key): (before.kafka_offsets.get(key, 0), end)
            for key, end in after.kafka_offsets.items()
            if end > before.kafka_offsets.get(key, 0)
        }
        consumer.assign(list(wanted))
        for tp, (start, _) in wanted.items():
            consumer.seek(tp, start)
        deadline = asyncio.get_running_loop().time() + 60
        while wanted and asyncio.get_running_loop().time() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                end = wanted.get(tp, (0, 0))[1]
                total += sum(
                    record_bytes(r.key, r.value, r.headers) for r in records if r.offset < end
                )
                if records and records[-1].offset + 1 >= end and tp in wanted:
                    del wanted[tp]
                    consumer.pause(tp)
        assert not wanted, f"records never read from {sorted(map(str, wanted))}"
    finally:
        await consumer.stop()
    return total


def record_bytes(key: bytes | None, value: bytes | None, headers: Any) -> int:
    return len(key or b"") + len(value or b"") + sum(len(k) + len(v or b"") for k, v in headers)


def per_order(before: Footprint, after: Footprint, kafka: int, orders: int) -> dict[str, float]:
    """Bytes per order of each kind, and commits and WAL syncs (the disk's writes that wait);
    table and index growth is in whole pages, so it is only meaningful over thousands of
    orders."""
    n = max(orders, 1)
    return {
        "table": (after.tables - before.tables) / n,
        "index": (after.indexes - before.indexes) / n,
        "wal": (after.wal - before.wal) / n,
        "kafka": kafka / n,
        "commits": (after.commits - before.commits) / n,
        "wal_syncs": (after.wal_syncs - before.wal_syncs) / n,
    }


def measure(dsn: str, bootstrap_servers: str) -> Footprint:
    return asyncio.run(footprint(dsn, bootstrap_servers))
