"""The event contract, as plain data."""

import uuid
from datetime import UTC, datetime

from shared.event_records import kafka_message
from shared.events import ALL_TOPICS, SOURCES, TOPICS, EventType, order_event, valid_traceparent

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_one_topic_per_type_plus_dead_letters() -> None:
    assert TOPICS == {
        EventType.CREATED: "orders.created",
        EventType.CONFIRMED: "orders.confirmed",
        EventType.SHIPPED: "orders.shipped",
        EventType.UPDATED: "orders.updated",
        EventType.DELETED: "orders.deleted",
    }
    assert set(ALL_TOPICS) == {*TOPICS.values(), "orders.dlq"}
    assert set(SOURCES) == set(EventType)


def test_a_kafka_record_in_binary_mode_keyed_by_the_order() -> None:
    order_id = uuid.uuid4()
    time = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    # Compact and with a key order of its own: any parse and dump would show.
    data = b'{"status":"CREATED","id":"x"}'
    event = order_event(EventType.CREATED, order_id, data, time, TRACEPARENT)
    message = kafka_message(event)
    assert message.topic == "orders.created"
    assert message.key == str(order_id).encode()
    assert message.value == data
    assert len(message.headers) == len(dict(message.headers))
    assert dict(message.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": str(event.id).encode(),
        "ce_source": b"/orders/orders_http",
        "ce_type": b"orders.order.created",
        "ce_subject": str(order_id).encode(),
        "ce_time": b"2026-11-27T10:00:00+00:00",
        "ce_traceparent": TRACEPARENT.encode(),
        "ce_dataschema": b"urn:orders:schema:order:1",
        "content-type": b"application/json",
    }


def test_every_event_gets_its_own_id() -> None:
    order_id = uuid.uuid4()
    now = datetime.now(UTC)
    first = order_event(EventType.UPDATED, order_id, b"{}", now)
    second = order_event(EventType.UPDATED, order_id, b"{}", now)
    assert first.id != second.id
    assert "traceparent" not in first.attributes()
    assert "ce_traceparent" not in dict(kafka_message(first).headers)


def test_only_well_formed_traceparents_travel() -> None:
    assert valid_traceparent(TRACEPARENT) == TRACEPARENT
    for junk in (None, 7, "", "00-xyz", TRACEPARENT + "\n", TRACEPARENT.upper()):
        assert valid_traceparent(junk) is None
