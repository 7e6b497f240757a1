"""`orders dlq`: what sits on the dead-letter topic, why each event was refused, and its replay.

A dead letter is the refused record as the KafkaSource read it, plus Knative's error
extensions: `knativeerrordest` (where it failed), `knativeerrorcode` (the status; -1 locally
when nothing answered) and `knativeerrordata` (the answer's body, base64, at most 1 KiB: for
our functions, a problem+json whose `detail` says why).

Listing reads every partition from the beginning to the end it found at the start, with no
consumer group, so it commits nothing and moves no one's offsets.

Replaying puts the original event back on the topic its type names (`shared/events.py`), with
its id, attributes, data and key (the order id) as they were and the `knative*` extensions
dropped, so it goes the normal way again: KafkaSource, function, retries, dead letter. It is
safe to repeat: the steps are conditional updates, so an event whose order already moved (or
is gone) is a duplicate (or obsolete) and changes nothing. What cannot be replayed as one of
the orders' events (no CloudEvent, a type or source not of the contract) is refused, and then
nothing at all is replayed.
"""

import asyncio
import base64
import binascii
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import orjson

from shared.events import DEAD_LETTER_TOPIC, SOURCES, TOPICS, EventType
from shared.kafka import Message
from shared.settings import Settings

# Every extension Knative adds on the way (knativeerrordest, -code, -data; a broker's
# knativearrivaltime): none is part of the event its producer wrote.
KNATIVE_PREFIX = "ce_knative"
# A read that gets nothing new for this long while short of the end gives up.
READ_PATIENCE_SECONDS = 30.0
REASON_WIDTH = 300


class DeadLetterError(Exception):
    """Something the operator must hear about; nothing was changed."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic, as read."""

    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes

    @property
    def where(self) -> str:
        return f"{self.partition}:{self.offset}"

    def attributes(self) -> dict[str, str]:
        """The CloudEvent attributes (the `ce_` headers, prefix dropped), as text."""
        return {
            name[3:]: value.decode("utf-8", "replace")
            for name, value in self.headers
            if name.startswith("ce_")
        }

    @property
    def event_id(self) -> str | None:
        return self.attributes().get("id")


@dataclass(frozen=True)
class Refusal:
    """Why a dead letter is there, from Knative's error extensions."""

    destination: str | None
    status: int | None
    reason: str
    # The destination's answer: the parsed problem+json, or its text.
    answer: Any


def refusal(letter: DeadLetter) -> Refusal:
    attributes = letter.attributes()
    code = attributes.get("knativeerrorcode")
    try:
        status = int(code) if code is not None else None
    except ValueError:
        status = None
    reason, answer = _reason(attributes.get("knativeerrordata"))
    if status == -1 and answer is None:
        reason = f"no answer ({reason})"
    return Refusal(attributes.get("knativeerrordest"), status, reason, answer)


def _reason(data: str | None) -> tuple[str, Any]:
    if data is None:
        return "no knativeerrordata: the reason is unknown", None
    try:
        body = base64.b64decode(data, validate=True)
    except binascii.Error:
        return f"knativeerrordata is not base64: {data[:80]!r}", None
    if not body:
        return "the destination answered with an empty body", None
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = " ".join(body.decode("utf-8", "replace").split())
        return text, None
    if isinstance(answer, dict):
        detail = answer.get("detail") or answer.get("title")
        if isinstance(detail, str) and detail:
            return detail, answer
    return body.decode("utf-8", "replace"), answer


def describe(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as one JSON object (`orders dlq list --json`)."""
    attributes = letter.attributes()
    why = refusal(letter)
    entry: dict[str, Any] = {
        "partition": letter.partition,
        "offset": letter.offset,
        "key": letter.key.decode("utf-8", "replace") if letter.key is not None else None,
        "id": attributes.get("id"),
        "type": attributes.get("type"),
        "source": attributes.get("source"),
        "subject": attributes.get("subject"),
        "time": attributes.get("time"),
        "destination": why.destination,
        "status": why.status,
        "reason": why.reason,
        "answer": why.answer,
    }
    try:
        replay_message(letter)
    except DeadLetterError as exc:
        entry["replayable"] = False
        entry["not_replayable_because"] = str(exc)
    else:
        entry["replayable"] = True
    return entry


def line(letter: DeadLetter) -> str:
    """A dead letter as one line (`orders dlq list`)."""
    entry = describe(letter)
    reason = entry["reason"]
    if len(reason) > REASON_WIDTH:
        reason = reason[: REASON_WIDTH - 3] + "..."
    fields = [
        f"{letter.where}",
        f"id={entry['id'] or '-'}",
        f"type={entry['type'] or '-'}",
        f"subject={entry['subject'] or '-'}",
        f"time={entry['time'] or '-'}",
        f"status={entry['status'] if entry['status'] is not None else '-'}",
        f"at={entry['destination'] or '-'}",
        f"reason={orjson.dumps(reason).decode()}",
    ]
    if not entry["replayable"]:
        fields.append(f"not-replayable={orjson.dumps(entry['not_replayable_because']).decode()}")
    return "  ".join(fields)


def replay_message(letter: DeadLetter) -> Message:
    """The record that puts the original event back on its topic, or a DeadLetterError saying
    why this dead letter is not one of the orders' events."""
    try:
        headers = [(name, value.decode("utf-8")) for name, value in letter.headers]
    except UnicodeDecodeError:
        raise DeadLetterError("a header is not UTF-8: not an event of the contract") from None
    attributes = {name[3:]: value for name, value in headers if name.startswith("ce_")}
    if attributes.get("specversion") != "1.0":
        raise DeadLetterError("not a CloudEvent 1.0 in binary mode (no ce_specversion 1.0 header)")
    event_id, kind, subject = (attributes.get(a) for a in ("id", "type", "subject"))
    if not event_id:
        raise DeadLetterError("the event has no id")
    try:
        event_type = EventType(kind or "")
    except ValueError:
        raise DeadLetterError(
            f"type {kind!r} is not one of the orders' events, so it has no topic to go back to"
        ) from None
    if attributes.get("source") != SOURCES[event_type]:
        raise DeadLetterError(
            f"{event_type} comes from {SOURCES[event_type]}, not {attributes.get('source')!r}:"
            " a foreign event, which the steps refuse"
        )
    if not subject:
        raise DeadLetterError("the event has no subject (its order id, the record's key)")
    kept = [
        (name, value)
        for name, value in letter.headers
        if not name.lower().startswith(KNATIVE_PREFIX)
    ]
    # The key is the order id, as the publisher writes it (`shared/event_records.py`); a dead
    # letter carries it only if its sink kept the record's key.
    return Message(TOPICS[event_type], subject.encode(), letter.value, kept)


def choose(
    letters: Sequence[DeadLetter], event_ids: Iterable[str], everything: bool, topic: str
) -> list[tuple[DeadLetter, Message]]:
    """The dead letters to replay, each with its record: those of `event_ids` (the latest
    letter of each, should one have been refused twice), or with `everything` one per id.
    Raises DeadLetterError, naming each problem, if any id is unknown or any chosen letter
    cannot be replayed."""
    latest: dict[str, DeadLetter] = {}
    unnamed: list[DeadLetter] = []
    for letter in sorted(letters, key=lambda one: (one.partition, one.offset)):
        if letter.event_id:
            latest[letter.event_id] = letter
        else:
            unnamed.append(letter)
    problems: list[str] = []
    if everything:
        chosen = list(latest.values())
        problems += [f"{letter.where}: the record has no event id" for letter in unnamed]
    else:
        wanted = list(dict.fromkeys(event_ids))
        chosen = [latest[i] for i in wanted if i in latest]
        problems += [
            f"{i}: no dead letter has this id on {topic}" for i in wanted if i not in latest
        ]
    replays = []
    for letter in chosen:
        try:
            replays.append((letter, replay_message(letter)))
        except DeadLetterError as exc:
            problems.append(f"{letter.event_id} ({letter.where}): {exc}")
    if problems:
        raise DeadLetterError(
            "nothing replayed:\n" + "\n".join(f"  {problem}" for problem in problems)
        )
    return replays


async def read_dead_letters(settings: Settings, topic: str = DEAD_LETTER_TOPIC) -> list[DeadLetter]:
    """Every record on `topic`, from the beginning to the end it had when the read began."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    from shared.kafka import client_options

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

    from shared.kafka import producer_options, send_all

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
