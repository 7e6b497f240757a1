"""`orders watch`: every event on the `orders.*` topics, one JSON object a line, as it comes.

Each line names the topic, partition, offset and key, the CloudEvent attributes (the record's
`ce_` headers, prefix dropped) and the data (the JSON value, parsed; text if it is not JSON).
It reads without a consumer group, so it moves no one's offsets. With `--from-beginning` it
starts with what the topics hold (the embedded broker keeps it in memory until it stops).
"""

import asyncio
import sys
from typing import Any, TextIO

import orjson

from shared.messaging.kafka import Record
from shared.settings import Settings

TOPICS = r"^orders\..*"


def event_line(record: Record) -> str:
    attributes: dict[str, str] = {}
    other: dict[str, str] = {}
    for name, value in record.headers or ():
        text = (value or b"").decode("utf-8", "replace")
        if name.startswith("ce_"):
            attributes[name[3:]] = text
        else:
            other[name] = text
    value = record.value or b""
    try:
        data: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        data = value.decode("utf-8", "replace")
    entry: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "ce": attributes,
        "data": data,
    }
    if other:
        entry["headers"] = other
    return orjson.dumps(entry).decode()


async def watch(settings: Settings, from_beginning: bool, out: TextIO = sys.stdout) -> None:
    from aiokafka import AIOKafkaConsumer

    from shared.messaging.kafka import client_options

    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        # New topics matching the pattern are picked up within this long.
        metadata_max_age_ms=5000,
        **client_options(settings),
    )
    await consumer.start()
    try:
        consumer.subscribe(pattern=TOPICS)
        print(
            f"watching {TOPICS} on {settings.kafka_bootstrap_servers}; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        async for record in consumer:
            print(event_line(record), file=out, flush=True)
    finally:
        await consumer.stop()


def run(from_beginning: bool) -> int:
    from shared.settings import get_settings

    try:
        asyncio.run(watch(get_settings(), from_beginning))
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # piped into `head` and the like
        return 0
    return 0
