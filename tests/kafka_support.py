"""Reading what really landed on the broker, for assertions."""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass(frozen=True)
class Record:
    topic: str
    key: str
    headers: dict[str, str]
    value: bytes
    partition: int = 0
    offset: int = 0


async def read_topics(bootstrap_servers: str, topics: tuple[str, ...]) -> list[Record]:
    """Every record currently on `topics`, from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends: dict[Any, int] = await consumer.end_offsets(partitions)
        records: list[Record] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=500)
            for tp_records in batch.values():
                records += [
                    Record(
                        r.topic,
                        (r.key or b"").decode(),
                        {k: v.decode() for k, v in r.headers},
                        r.value or b"",
                        r.partition,
                        r.offset,
                    )
                    for r in tp_records
                ]
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def wait_for_records(
    bootstrap_servers: str,
    topics: tuple[str, ...],
    keys: set[str],
    count: int,
    within: float = 60.0,
) -> list[Record]:
    """Records for `keys`, once at least `count` of them are there (or `within` seconds pass)."""
    deadline = time.monotonic() + within
    while True:
        records = [r for r in await read_topics(bootstrap_servers, topics) if r.key in keys]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.3)
