"""Dead letters through the running system: a refusal by confirm listed with confirm's reason,
and a replayed event moving its order once, however often it is replayed."""

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import cast

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from shared.domain.events import EventType, order_event
from shared.local.manifests import kafka_sources
from shared.local.source_events import dead_letter, delivery
from shared.messaging.event_records import kafka_message
from shared.runtime.problems import problem
from shared.store import outbox
from tests.kafka_support import wait_for_records
from tests.support import orders_dlq
from tests.system import LocalSystem


@pytest.fixture(scope="module")
def system(database_url: str, broker: str) -> Iterator[LocalSystem]:
    with LocalSystem(
        database_url, broker, CONFIRM_DELAY_SECONDS="0.5", SHIP_DELAY_SECONDS="0.5"
    ) as running:
        yield running


def _listed(event_id: str, broker: str) -> dict[str, object]:
    ran = orders_dlq("list", "--json", broker=broker)
    assert ran.returncode == 0, ran.stderr
    entries = [orjson.loads(line) for line in ran.stdout.splitlines()]
    [entry] = [e for e in entries if e["id"] == event_id]
    return cast(dict[str, object], entry)


async def test_a_refused_event_is_listed_with_the_functions_reason(
    system: LocalSystem, broker: str
) -> None:
    poison_id = str(uuid.uuid4())
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", poison_id.encode()),
        ("ce_type", b"orders.order.created"),
        ("ce_source", b"/orders/orders_http"),
        ("ce_subject", b"not-an-order"),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("content-type", b"application/json"),
    ]
    try:
        await producer.send_and_wait(
            "orders.created", b'{"id": "not-an-order"}', key=poison_id.encode(), headers=headers
        )
    finally:
        await producer.stop()
    await wait_for_records(broker, ("orders.dlq",), {poison_id}, 1)
    entry = _listed(poison_id, broker)
    assert entry["status"] == 400
    assert entry["reason"] == "subject must be an order id, not 'not-an-order'"
    assert entry["destination"] == f"{system.url('confirm')}/"
    assert entry["type"] == "orders.order.created"
    assert entry["subject"] == "not-an-order"
    ran = orders_dlq("list", broker=broker)
    [line] = [one for one in ran.stdout.splitlines() if f"id={poison_id}" in one]
    assert "status=400" in line
    assert "reason=\"subject must be an order id, not 'not-an-order'\"" in line


async def _stranded_order(db: asyncpg.Connection) -> tuple[str, str]:
    """An order at CREATED whose created event was dead-lettered: confirm stayed unreachable
    past its retries (the dead letter made as the local KafkaSource makes it). Its outbox row
    is published, so only a replay moves it."""
    order_id = uuid.uuid4()
    now = datetime.now(UTC)
    items = [{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 500}]
    await db.execute(
        "INSERT INTO orders (id, customer_id, items, total_cents, status, version,"
        " created_at, updated_at) VALUES ($1, 'c-dlq', $2::jsonb, 500, 'CREATED', 1, $3, $3)",
        order_id,
        orjson.dumps(items).decode(),
        now,
    )
    data = orjson.dumps(
        {
            "id": str(order_id),
            "customer_id": "c-dlq",
            "items": items,
            "total_cents": 500,
            "status": "CREATED",
            "version": 1,
            "created_at": now.isoformat(),
            "updated_at": now.isoformat(),
            "confirmed_at": None,
            "shipped_at": None,
        }
    )
    event = order_event(EventType.CREATED, order_id, data, now)
    await outbox.add_event(db, event)
    await outbox.mark_published(db, [event.id])
    message = kafka_message(event)
    record = ConsumerRecord(
        message.topic, 0, 0, 0, 0, message.key, message.value, None, 0, 0, message.headers
    )
    spec = next(s for s in kafka_sources() if "orders.created" in s.topics)
    gone = bytes(problem(503, "database-unavailable", "Service Unavailable", "db gone").body)
    letter = dead_letter(delivery(record, spec).event, record.key, "http://confirm/", 503, gone)
    producer = AIOKafkaProducer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        await producer.send_and_wait(
            "orders.dlq",
            cast(bytes, letter.value),
            key=cast(bytes, letter.key),
            headers=list(letter.headers.items()),
        )
    finally:
        await producer.stop()
    return str(order_id), str(event.id)


def _duplicates_seen(system: LocalSystem) -> float:
    metrics = httpx.get(f"{system.url('confirm')}/metrics", timeout=10).text
    wanted = 'orders_events_handled_total{outcome="duplicate",type="orders.order.created"}'
    for line in metrics.splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


async def _transitions(db: asyncpg.Connection, order_id: str) -> Counter[str]:
    rows = await db.fetch("SELECT type FROM outbox WHERE order_id = $1::uuid", order_id)
    return Counter(row["type"] for row in rows)


async def test_a_replayed_event_moves_its_order_once(
    system: LocalSystem, db: asyncpg.Connection, broker: str
) -> None:
    order_id, event_id = await _stranded_order(db)
    entry = _listed(event_id, broker)
    assert (entry["status"], entry["reason"], entry["replayable"]) == (503, "db gone", True)
    time.sleep(2)
    assert httpx.get(f"{system.url('orders_http')}/{order_id}").json()["status"] == "CREATED"

    ran = orders_dlq("replay", event_id, broker=broker)
    assert ran.returncode == 0, ran.stderr
    assert f"replayed {event_id}" in ran.stdout
    shipped = system.wait_for_status([order_id], "SHIPPED")[order_id]
    assert shipped["version"] == 3
    once = Counter(
        {"orders.order.created": 1, "orders.order.confirmed": 1, "orders.order.shipped": 1}
    )
    assert await _transitions(db, order_id) == once

    # Again: confirm takes it for a duplicate, and nothing changes.
    duplicates = _duplicates_seen(system)
    ran = orders_dlq("replay", event_id, broker=broker)
    assert ran.returncode == 0, ran.stderr
    deadline = time.monotonic() + 60
    while _duplicates_seen(system) <= duplicates:
        assert time.monotonic() < deadline, "confirm never saw the second replay"
        time.sleep(0.2)
    after = httpx.get(f"{system.url('orders_http')}/{order_id}").json()
    assert after == shipped
    assert await _transitions(db, order_id) == once
