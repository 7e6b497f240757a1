"""A local KafkaSource's offsets: what is in flight on each partition, the offset safe to commit
(below every record still in flight), and the partitions a rebalance takes away."""

import asyncio
from collections.abc import Iterable, Mapping
from typing import Protocol

from aiokafka.abc import ConsumerRebalanceListener

# A partition, as (topic, partition number).
Partition = tuple[str, int]


class _TopicPartition(Protocol):
    """An aiokafka `TopicPartition`."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


class _Consumer(Protocol):
    """What this code uses of an aiokafka `AIOKafkaConsumer` beyond iterating its records."""

    async def commit(self, offsets: Mapping[object, int]) -> None: ...


class PartitionProgress:
    """Offsets in flight on one partition, and the offset safe to commit."""

    def __init__(self) -> None:
        self.in_flight: set[int] = set()
        self.next_offset: int | None = None

    def started(self, offset: int) -> None:
        self.in_flight.add(offset)
        self.next_offset = max(self.next_offset or 0, offset + 1)

    def committable(self) -> int | None:
        return min(self.in_flight) if self.in_flight else self.next_offset


class _ForgetRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """On a rebalance, stop committing for partitions this consumer no longer owns; on an
    assignment, tell whoever waits for this source to consume."""

    def __init__(
        self, progress: dict[Partition, PartitionProgress], assigned: asyncio.Event
    ) -> None:
        self._progress = progress
        self._assigned = assigned

    async def on_partitions_revoked(self, revoked: Iterable[_TopicPartition]) -> None:
        for tp in revoked:
            self._progress.pop((tp.topic, tp.partition), None)

    async def on_partitions_assigned(self, assigned: Iterable[_TopicPartition]) -> None:
        self._assigned.set()
