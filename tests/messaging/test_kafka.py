"""Sends landing on a real broker, in order, each on the partition Kafka's default partitioner
picks for its key."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from shared.messaging.kafka import Message, producer_options, send_all
from shared.settings import get_settings
from tests.kafka_support import read_topics


@pytest.mark.parametrize(
    ("key", "partition"),
    [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742)],
)
def test_partitions_are_the_java_clients(key: bytes, partition: int) -> None:
    # Known answers of Kafka's Java DefaultPartitioner over 1,000 partitions: other producers
    # of the same keys (Java ones included) put them where the publisher's producer does.
    partitions = list(range(1000))
    assert DefaultPartitioner()(key, partitions, partitions) == partition


async def test_every_message_is_delivered_in_order_per_partition(broker: str) -> None:
    producer = AIOKafkaProducer(**producer_options(get_settings()))
    await producer.start()
    run = uuid.uuid4().hex
    keys = [f"{run}-{n}".encode() for n in range(12)]
    # Small values and some larger than a whole batch (16 KiB), on two topics.
    messages = [
        Message(
            "orders.updated" if n % 3 else "orders.deleted",
            keys[n % len(keys)],
            f'{{"n": {n}, "pad": "{"x" * (20_000 if n % 17 == 0 else 10)}"}}'.encode(),
            [("run", run.encode()), ("n", str(n).encode())],
        )
        for n in range(200)
    ]
    try:
        await send_all(producer, messages)
        # One more of each key, alone: the partition is the key's, whatever else is sent.
        await asyncio.gather(
            *[
                await producer.send(
                    "orders.updated", b"{}", key=key, headers=[("run", run.encode())]
                )
                for key in keys
            ]
        )
    finally:
        await producer.stop()

    of_run = [
        r
        for r in await read_topics(broker, ("orders.updated", "orders.deleted"))
        if r.headers.get("run") == run
    ]
    landed = [r for r in of_run if "n" in r.headers]
    assert sorted(int(r.headers["n"]) for r in landed) == list(range(200))
    partition_of = {r.key: r.partition for r in of_run if "n" not in r.headers}
    assert len(partition_of) == len(keys)
    assert len(set(partition_of.values())) > 1  # else any fixed choice would pass
    for record in landed:
        assert record.partition == partition_of[record.key]
    for key in keys:
        for topic in ("orders.updated", "orders.deleted"):
            of_key = [r for r in landed if r.key == key.decode() and r.topic == topic]
            by_offset = sorted(of_key, key=lambda r: r.offset)
            assert [int(r.headers["n"]) for r in by_offset] == sorted(
                int(r.headers["n"]) for r in of_key
            )
