"""An order's whole life through real processes, a real broker and a real database: created,
confirmed, shipped, one event per transition, each a CloudEvent of the contract, past racing
confirms and poison events."""

import asyncio
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.http import CloudEvent
from cloudevents.kafka import KafkaMessage, from_binary, to_binary

from shared.domain.events import (
    ALL_TOPICS,
    DATA_SCHEMA,
    DEAD_LETTER_TOPIC,
    ORDER_SCHEMA_VERSION,
    SOURCES,
    TOPICS,
    EventType,
)
from tests.event_contract import EventContract, released_order_validator
from tests.kafka_support import Record, wait_for_records
from tests.support import binary_headers, order_body
from tests.system import LocalSystem

LIFECYCLE_TOPICS = ("orders.created", "orders.confirmed", "orders.shipped")


@pytest.fixture(scope="module")
def system(database_url: str, broker: str) -> Iterator[LocalSystem]:
    with LocalSystem(
        database_url, broker, CONFIRM_DELAY_SECONDS="0.5", SHIP_DELAY_SECONDS="0.5"
    ) as running:
        yield running


def _create(system: LocalSystem, count: int) -> list[str]:
    ids = []
    for n in range(count):
        answer = httpx.post(f"{system.url('orders_http')}/", json=order_body(f"c-{n}"), timeout=30)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


async def _outbox_types(db: asyncpg.Connection, order_ids: list[str]) -> Counter[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT order_id, type FROM outbox WHERE order_id = ANY($1::uuid[])",
        [uuid.UUID(i) for i in order_ids],
    )
    return Counter((str(row["order_id"]), row["type"]) for row in rows)


async def test_orders_move_to_shipped_with_one_event_per_transition(
    system: LocalSystem, db: asyncpg.Connection, broker: str
) -> None:
    ids = _create(system, 10)
    orders = system.wait_for_status(ids, "SHIPPED")
    records = await wait_for_records(broker, LIFECYCLE_TOPICS, set(ids), 30)
    assert Counter((r.key, r.topic) for r in records) == Counter(
        {(i, topic): 1 for i in ids for topic in LIFECYCLE_TOPICS}
    )
    for record in records:
        data = orjson.loads(record.value)
        assert record.headers["ce_subject"] == record.key == data["id"]
        assert record.headers["ce_type"] == "orders.order." + record.topic.removeprefix("orders.")
        assert (
            data["status"]
            == {
                "orders.created": "CREATED",
                "orders.confirmed": "CONFIRMED",
                "orders.shipped": "SHIPPED",
            }[record.topic]
        )
        assert record.headers["content-type"] == "application/json"
    for order in orders.values():
        assert order["version"] == 3
        assert str(order["created_at"]) < str(order["confirmed_at"]) < str(order["shipped_at"])


async def test_two_replicas_of_confirm_racing_move_the_order_once(
    system: LocalSystem, db: asyncpg.Connection, broker: str
) -> None:
    [order_id] = _create(system, 1)
    [created] = await wait_for_records(broker, ("orders.created",), {order_id}, 1)
    headers = binary_headers(
        {k.removeprefix("ce_"): v for k, v in created.headers.items() if k.startswith("ce_")}
    )
    replica = LocalSystem(system.env["DATABASE_URL"], broker, CONFIRM_DELAY_SECONDS="0.5")
    replica.start_function("confirm")
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            answers = await asyncio.gather(
                *(
                    http.post(f"{url}/", content=created.value, headers=headers)
                    for url in (system.url("confirm"), replica.url("confirm"))
                    for _ in range(2)
                )
            )
    finally:
        replica.kill("confirm", signal.SIGTERM)
    assert {answer.status_code for answer in answers} == {200}
    system.wait_for_status([order_id], "SHIPPED")
    counts = await _outbox_types(db, [order_id])
    assert counts == Counter(
        {(order_id, f"orders.order.{t}"): 1 for t in ("created", "confirmed", "shipped")}
    )


async def test_poison_events_go_to_the_dead_letter_topic_without_blocking_others(
    system: LocalSystem, broker: str
) -> None:
    poison_id = str(uuid.uuid4())
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    headers: list[tuple[str, bytes]] = [
        ("ce_specversion", b"1.0"),
        ("ce_id", poison_id.encode()),
        ("ce_type", b"orders.order.created"),
        ("ce_source", b"/orders/orders_http"),
        ("ce_subject", b"not-an-order"),
        ("content-type", b"application/json"),
    ]
    await producer.send_and_wait(
        "orders.created", b'{"id": "not-an-order"', key=poison_id.encode(), headers=headers
    )
    await producer.stop()
    ids = _create(system, 3)
    system.wait_for_status(ids, "SHIPPED")
    [dead] = await wait_for_records(broker, ("orders.dlq",), {poison_id}, 1)
    assert dead.headers["ce_knativeerrorcode"] == "400"
    assert dead.headers["ce_id"] == poison_id


# What every record of the contract carries as a header: the SDK's reader would make up an id,
# a time and a specversion that were missing, so their presence is checked before it reads.


CONTRACT_HEADERS = {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"}


def _read(record: Record) -> CloudEvent:
    assert CONTRACT_HEADERS | {"content-type"} <= record.headers.keys(), record
    headers = {name: value.encode() for name, value in record.headers.items()}
    return from_binary(KafkaMessage(headers, record.key.encode(), record.value))


def _as_is(data: Any) -> Any:
    return data


async def _send_with_a_local_time(broker: str, record: Record) -> str:
    """`record` again under a new id, its time without a UTC offset: confirm refuses it (400)."""
    event = from_binary(
        KafkaMessage({k: v.encode() for k, v in record.headers.items()}, None, record.value),
        data_unmarshaller=_as_is,
    )
    event["id"] = str(uuid.uuid4())
    event["time"] = datetime.fromisoformat(event["time"]).replace(tzinfo=None).isoformat()
    message = to_binary(
        event, data_marshaller=_as_is, key_mapper=lambda e: str(e["subject"]).encode()
    )
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic, message.value, key=message.key, headers=list(message.headers.items())
        )
    finally:
        await producer.stop()
    return str(event["id"])


async def test_every_record_of_a_whole_life_is_a_cloudevent_of_the_contract(
    system: LocalSystem, db: asyncpg.Connection, broker: str
) -> None:
    url = system.url("orders_http")
    changed, refused = _create(system, 2)
    # Right away: confirm moves it (and PUT answers 409) CONFIRM_DELAY_SECONDS after its creation.
    replaced = httpx.put(f"{url}/{changed}", json=order_body("c-2"), timeout=30)
    assert replaced.status_code == 200, replaced.text
    system.wait_for_status([changed, refused], "SHIPPED")
    assert httpx.delete(f"{url}/{changed}", timeout=30).status_code == 204
    [created] = await wait_for_records(broker, ("orders.created",), {refused}, 1)
    poison_id = await _send_with_a_local_time(broker, created)

    expected = Counter(
        [(changed, topic) for topic in TOPICS.values()]
        + [(refused, t) for t in ("orders.created", "orders.confirmed", "orders.shipped")]
        + [(refused, "orders.created"), (refused, "orders.dlq")]
    )
    records = await wait_for_records(broker, ALL_TOPICS, {changed, refused}, expected.total())
    assert Counter((r.key, r.topic) for r in records) == expected
    # The contract as served: each record the system wrote is one message of its topic's
    # channel (key, headers, payload), and its data is still what the released version took.
    contract = EventContract(httpx.get(f"{url}/asyncapi.json", timeout=30).json())
    released = released_order_validator(ORDER_SCHEMA_VERSION)
    published: dict[uuid.UUID, tuple[CloudEvent, Record]] = {}
    refused_copies: dict[str, Record] = {}
    for record in records:
        event = _read(record)
        assert event["specversion"] == "1.0"
        assert event["source"] == SOURCES[EventType(event["type"])]
        assert event["subject"] == record.key
        assert event["datacontenttype"] == "application/json"
        assert event["dataschema"] == DATA_SCHEMA
        assert isinstance(event.data, dict)
        assert event.data["id"] == record.key
        released.validate(event.data)
        time = datetime.fromisoformat(event["time"])
        if event["id"] == poison_id:  # the refused copy (the test's, not the system's) ...
            assert time.tzinfo is None
            refused_copies[record.topic] = record
            if record.topic == DEAD_LETTER_TOPIC:  # ... and its dead letter (the system's)
                assert event["knativeerrorcode"] == "400"
                assert event["knativeerrordest"].endswith(f":{system.ports['confirm']}/")
                message = contract.check(record.topic, record.key, record.headers, record.value)
                assert message == "deadLetter"
            continue
        assert record.topic == TOPICS[EventType(event["type"])]
        message = contract.check(record.topic, record.key, record.headers, record.value)
        assert message == "order" + event["type"].split(".")[-1].capitalize()
        published[uuid.UUID(event["id"])] = (event, record)
    # A dead letter is the refused record, plus Knative's error extensions.
    dead, copy = refused_copies[DEAD_LETTER_TOPIC], refused_copies["orders.created"]
    assert (dead.key, dead.value) == (copy.key, copy.value)
    assert {
        name: value
        for name, value in dead.headers.items()
        if not name.startswith("ce_knativeerror")
    } == copy.headers
    # Each published record is its outbox row: id, type, source, order, time, the data's bytes.
    rows = await db.fetch(
        "SELECT id, order_id, type, source, time, data FROM outbox WHERE order_id = ANY($1)",
        [uuid.UUID(changed), uuid.UUID(refused)],
    )
    assert sorted(published) == sorted(row["id"] for row in rows)
    for row in rows:
        event, record = published[row["id"]]
        assert event["type"] == row["type"]
        assert event["source"] == row["source"]
        assert event["subject"] == str(row["order_id"])
        assert datetime.fromisoformat(event["time"]) == row["time"]
        assert record.value == row["data"]
