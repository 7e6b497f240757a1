"""Kafka's default partitioner, and batched sends landing on a real broker."""

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import given
from hypothesis import strategies as st

from shared.kafka import Message, murmur2, partition_for, producer_options, send_batched
from shared.settings import get_settings
from tests.kafka_support import read_topics


@given(st.binary(max_size=100))
def test_murmur2_is_kafkas(data: bytes) -> None:
    assert murmur2(data) == reference_murmur2(data)


@pytest.mark.parametrize(
    ("key", "partition"),
    [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742)],
)
def test_partitions_are_the_java_clients(key: bytes, partition: int) -> None:
    # Known answers of Kafka's Java DefaultPartitioner over 1,000 partitions.
    assert partition_for(key, range(1000)) == partition


async def test_batches_deliver_every_message_in_order_per_partition(broker: str) -> None:
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
        await send_batched(producer, messages)
    finally:
        await producer.stop()

    landed = [
        r
        for r in await read_topics(broker, ("orders.updated", "orders.deleted"))
        if r.headers.get("run") == run
    ]
    assert sorted(int(r.headers["n"]) for r in landed) == list(range(200))
    for record in landed:
        assert record.partition == partition_for(record.key.encode(), [0, 1, 2])
    for key in keys:
        for topic in ("orders.updated", "orders.deleted"):
            of_key = [r for r in landed if r.key == key.decode() and r.topic == topic]
            by_offset = sorted(of_key, key=lambda r: r.offset)
            assert [int(r.headers["n"]) for r in by_offset] == sorted(
                int(r.headers["n"]) for r in of_key
            )
