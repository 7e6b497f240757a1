"""`orders dlq list|replay`: the dead-letter topic read and events put back.

Listing reads every partition from the beginning to the end it found at the start, with no
consumer group, so it commits nothing and moves no one's offsets.
"""

import asyncio
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import orjson

from shared.domain.events import DEAD_LETTER_TOPIC
from shared.messaging.dead_letter_reasons import describe, line
from shared.messaging.dead_letters import DeadLetter, DeadLetterError, choose
from shared.messaging.kafka import Message
from shared.settings import Settings

# A read that gets nothing new for this long while short of the end gives up.
READ_PATIENCE_SECONDS = 30.0


async def read_dead_letters(settings: Settings, topic: str = DEAD_LETTER_TOPIC) -> list[DeadLetter]:
    """Every record on `topic`, from the beginning to the end it had when the read began."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    from shared.messaging.kafka import client_options

    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **client_options(settings))
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise DeadLetterError(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc}"
        ) from exc
    try:
        if topic not in await consumer.topics():
            raise DeadLetterError(
                f"there is no topic {topic!r} on {settings.kafka_bootstrap_servers}"
            )
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends: dict[Any, int] = await consumer.end_offsets(partitions)
        letters: list[DeadLetter] = []
        waited = 0.0
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(*partitions, timeout_ms=1000)
            waited = 0.0 if batch else waited + 1.0
            if waited >= READ_PATIENCE_SECONDS:
                raise DeadLetterError(f"{topic} stopped giving records before its end")
            for tp, records in batch.items():
                letters += [
                    DeadLetter(
                        record.partition,
                        record.offset,
                        record.key,
                        tuple(
                            (name, value)
                            for name, value in record.headers or ()
                            if value is not None
                        ),
                        record.value or b"",
                    )
                    for record in records
                    if record.offset < ends[tp]
                ]
        return sorted(letters, key=lambda one: (one.partition, one.offset))
    except KafkaError as exc:
        raise DeadLetterError(f"reading {topic} failed: {exc}") from exc
    finally:
        await consumer.stop()


async def publish(settings: Settings, messages: Sequence[Message]) -> None:
    """Send the records and wait until the broker has them all."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from shared.messaging.kafka import producer_options, send_all

    producer = AIOKafkaProducer(**producer_options(settings))
    try:
        await producer.start()
        await send_all(producer, messages)
    except KafkaError as exc:
        raise DeadLetterError(
            f"publishing to {settings.kafka_bootstrap_servers} failed: {exc}"
            " (some events may have gone: replaying them again is harmless)"
        ) from exc
    finally:
        await producer.stop()


async def list_dead_letters(
    settings: Settings, as_json: bool, topic: str = DEAD_LETTER_TOPIC, out: TextIO = sys.stdout
) -> int:
    letters = await read_dead_letters(settings, topic)
    for letter in letters:
        print(orjson.dumps(describe(letter)).decode() if as_json else line(letter), file=out)
    print(f"{len(letters)} dead letters on {topic}", file=sys.stderr)
    return len(letters)


async def replay_dead_letters(
    settings: Settings,
    event_ids: Sequence[str],
    everything: bool,
    topic: str = DEAD_LETTER_TOPIC,
    out: TextIO = sys.stdout,
) -> int:
    replays = choose(await read_dead_letters(settings, topic), event_ids, everything, topic)
    await publish(settings, [message for _, message in replays])
    for letter, message in replays:
        attributes = letter.attributes()
        print(
            f"replayed {attributes['id']} ({attributes['type']}, order {attributes['subject']})"
            f" from {topic} {letter.where} onto {message.topic}",
            file=out,
        )
    print(f"replayed: {len(replays)} from {topic}", file=sys.stderr)
    return len(replays)


def run(
    command: str,
    *,
    as_json: bool = False,
    event_ids: Sequence[str] = (),
    everything: bool = False,
    topic: str | None = None,
) -> int:
    """`orders dlq list|replay`: 0 when done, 1 with a message on stderr when not."""
    from shared.settings import get_settings

    settings = get_settings()
    topic = topic or DEAD_LETTER_TOPIC
    try:
        if command == "list":
            asyncio.run(list_dead_letters(settings, as_json, topic))
        else:
            asyncio.run(replay_dead_letters(settings, event_ids, everything, topic))
    except DeadLetterError as exc:
        print(f"orders dlq {command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # piped into `head` and the like
        return 0
    return 0
