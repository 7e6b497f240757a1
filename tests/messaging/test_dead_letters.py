"""`orders dlq` on the real broker: dead letters made as the local KafkaSource makes them,
listed with their reasons and replayed onto their topics; bad input changes nothing."""

import asyncio
import io
import uuid
from datetime import UTC, datetime
from typing import cast

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from cloudevents.kafka import KafkaMessage

from shared.domain.events import EventType, OrderEvent, order_event
from shared.local.manifests import kafka_sources
from shared.local.source_events import dead_letter, delivery
from shared.messaging.dead_letter_topic import list_dead_letters, replay_dead_letters
from shared.messaging.dead_letters import DeadLetterError
from shared.messaging.event_records import kafka_message
from shared.messaging.kafka import ensure_topics
from shared.runtime.problems import problem
from shared.settings import get_settings
from tests.kafka_support import read_topics
from tests.support import orders_dlq

SPEC = kafka_sources()[0]
SINK = "http://127.0.0.1:8081/"


def _event(event_type: EventType = EventType.CREATED) -> OrderEvent:
    order_id = uuid.uuid4()
    data = orjson.dumps({"id": str(order_id), "status": "CREATED", "version": 1})
    return order_event(event_type, order_id, data, datetime.now(UTC))


def _refused(detail: str, status: int = 400) -> bytes:
    return bytes(problem(status, "bad-event", "Bad Request", detail).body)


async def _put(
    broker: str, topic: str, records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def _as_record(letter: KafkaMessage) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    # The binding writes bytes (the data passes as it is, the key is the record's).
    return cast(bytes | None, letter.key), cast(bytes, letter.value), list(letter.headers.items())


async def _dead_letter(
    broker: str, topic: str, event: OrderEvent, status: int | None, answer: bytes
) -> None:
    """`event` as published, refused by `SINK`, as the local KafkaSource dead-letters it."""
    message = kafka_message(event)
    record = ConsumerRecord(
        message.topic, 0, 7, 0, 0, message.key, message.value, None, 0, 0, message.headers
    )
    letter = dead_letter(delivery(record, SPEC).event, record.key, SINK, status, answer)
    await _put(broker, topic, [_as_record(letter)])


@pytest.fixture
async def topic(broker: str) -> str:
    """A dead-letter topic of the test's own: `--all` sees only what the test put there."""
    name = f"orders.dlq.test-{uuid.uuid4().hex[:8]}"
    await ensure_topics(get_settings(), (name,), partitions=2)
    return name


async def test_list_shows_each_dead_letter_with_why_it_was_refused(broker: str, topic: str) -> None:
    refused, unanswered = _event(), _event(EventType.CONFIRMED)
    detail = f"subject must be an order id, not {'x' * 20!r}"
    await _dead_letter(broker, topic, refused, 400, _refused(detail))
    await _dead_letter(broker, topic, unanswered, None, b"ClientConnectorError('refused')")
    out = io.StringIO()
    assert await list_dead_letters(get_settings(), True, topic, out) == 2
    entries = {entry["id"]: entry for entry in map(orjson.loads, out.getvalue().splitlines())}
    first = entries[str(refused.id)]
    assert first["type"] == "orders.order.created"
    assert first["subject"] == first["key"] == str(refused.order_id)
    assert first["time"] == refused.time.isoformat()
    assert first["destination"] == SINK
    assert first["status"] == 400
    assert first["reason"] == detail
    assert first["answer"]["detail"] == detail  # the whole problem+json
    assert first["replayable"] is True
    assert isinstance(first["partition"], int)
    assert isinstance(first["offset"], int)
    second = entries[str(unanswered.id)]
    assert second["status"] == -1
    assert second["reason"] == "no answer (ClientConnectorError('refused'))"
    # One line each without --json, the reason quoted; reading twice reads the same (no group,
    # nothing committed).
    plain = io.StringIO()
    assert await list_dead_letters(get_settings(), False, topic, plain) == 2
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2
    assert f"id={refused.id}" in lines[0] or f"id={refused.id}" in lines[1]
    [line] = [one for one in lines if f"id={refused.id}" in one]
    assert "type=orders.order.created" in line
    assert f"subject={refused.order_id}" in line
    assert "status=400" in line
    assert f"at={SINK}" in line
    assert f'reason="{detail}"' in line


async def test_replay_puts_the_original_event_back_on_its_topic(broker: str, topic: str) -> None:
    event = _event()
    await _dead_letter(broker, topic, event, 503, _refused("database unavailable", 503))
    out = io.StringIO()
    assert await replay_dead_letters(get_settings(), [str(event.id)], False, topic, out) == 1
    assert f"replayed {event.id}" in out.getvalue()
    assert "onto orders.created" in out.getvalue()
    published = kafka_message(event)
    [again] = [
        r for r in await read_topics(broker, ("orders.created",)) if r.key == str(event.order_id)
    ]
    # As the publisher wrote it: same id, key, value and headers; no knative* extension.
    assert again.headers["ce_id"] == str(event.id)
    assert again.key.encode() == published.key
    assert again.value == published.value
    assert again.headers == {name: value.decode() for name, value in published.headers}
    assert not [name for name in again.headers if "knative" in name]


async def test_replay_all_replays_each_event_once(broker: str, topic: str) -> None:
    twice, once = _event(), _event(EventType.CONFIRMED)
    for event in (twice, once, twice):  # refused, replayed, refused again
        await _dead_letter(broker, topic, event, 400, _refused("no"))
    assert await replay_dead_letters(get_settings(), [], True, topic, io.StringIO()) == 2
    records = await read_topics(broker, ("orders.created", "orders.confirmed"))
    keys = [r.key for r in records if r.key in (str(twice.order_id), str(once.order_id))]
    assert sorted(keys) == sorted([str(twice.order_id), str(once.order_id)])


async def _on_topics(broker: str, keys: set[str]) -> list[str]:
    records = await read_topics(broker, ("orders.created", "orders.confirmed"))
    return [r.key for r in records if r.key in keys]


async def test_bad_input_changes_nothing_and_says_why(broker: str, topic: str) -> None:
    good = _event()
    await _dead_letter(broker, topic, good, 400, _refused("no"))
    foreign = OrderEvent(
        uuid.uuid4(), uuid.uuid4(), EventType.CREATED.value, "/elsewhere", datetime.now(UTC), b"{}"
    )
    await _dead_letter(broker, topic, foreign, 400, _refused("not ours"))
    wrapped = ConsumerRecord("orders.created", 1, 3, 0, 0, b"k", b"plain", None, 0, 0, [])
    refused_plain = dead_letter(delivery(wrapped, SPEC).event, b"k", SINK, 400, b"")
    await _put(
        broker,
        topic,
        [
            _as_record(refused_plain),
            (b"k", b"not an event at all", [("ce_knativeerrordata", b"%%%")]),
        ],
    )
    keys = {str(good.order_id), str(foreign.order_id)}

    # An unknown id: nothing replayed, not even the good one named with it.
    unknown = str(uuid.uuid4())
    ran = orders_dlq("replay", "--topic", topic, str(good.id), unknown, broker=broker)
    assert ran.returncode == 1
    assert f"{unknown}: no dead letter has this id on {topic}" in ran.stderr
    assert "nothing replayed" in ran.stderr
    # The foreign event cannot go back: a clear reason, nothing replayed.
    ran = orders_dlq("replay", "--topic", topic, str(good.id), str(foreign.id), broker=broker)
    assert ran.returncode == 1
    assert "a foreign event" in ran.stderr
    # --all meets the wrapped record and the one with no event id: the same.
    ran = orders_dlq("replay", "--all", "--topic", topic, broker=broker)
    assert ran.returncode == 1
    assert "dev.knative.kafka.event" in ran.stderr
    assert "the record has no event id" in ran.stderr
    assert await _on_topics(broker, keys) == []
    # Listing shows every record, the malformed ones too, each saying what is wrong.
    ran = orders_dlq("list", "--json", "--topic", topic, broker=broker)
    assert ran.returncode == 0, ran.stderr
    entries = [orjson.loads(line) for line in ran.stdout.splitlines()]
    assert len(entries) == 4
    assert [e["replayable"] for e in entries].count(True) == 1
    [garbage] = [e for e in entries if e["id"] is None]
    assert garbage["reason"].startswith("knativeerrordata is not base64")
    # Named alone, the good one goes.
    ran = orders_dlq("replay", "--topic", topic, str(good.id), broker=broker)
    assert ran.returncode == 0, ran.stderr
    assert await _on_topics(broker, keys) == [str(good.order_id)]


async def test_a_missing_topic_or_broker_is_a_clear_error(broker: str) -> None:
    ran = orders_dlq("list", "--topic", "orders.dlq.nowhere", broker=broker)
    assert ran.returncode == 1
    assert "there is no topic 'orders.dlq.nowhere'" in ran.stderr
    with pytest.raises(DeadLetterError, match="no dead letter has this id"):
        await replay_dead_letters(get_settings(), ["nope"], False, "orders.dlq", io.StringIO())
    ran = await asyncio.to_thread(orders_dlq, "list", broker="127.0.0.1:1")
    assert ran.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in ran.stderr
