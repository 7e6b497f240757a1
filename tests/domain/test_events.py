"""The event contract, as plain data."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson

from shared.domain.events import (
    ALL_TOPICS,
    DATA_SCHEMA,
    ORDER_SCHEMA_VERSION,
    SOURCES,
    TOPICS,
    EventType,
    order_event,
    valid_traceparent,
)
from shared.domain.lifecycle import OrderStatus
from shared.domain.orders import new_order, to_json
from shared.domain.schemas import LineItem, OrderIn
from shared.messaging.event_records import kafka_message
from tests.event_contract import CONTRACTS, load, released_order_validator

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


def test_every_released_version_of_the_data_is_kept() -> None:
    # A new version is released with its schema beside the others, and they all stay.
    assert load(f"order-v{ORDER_SCHEMA_VERSION}.schema.json")["$id"] == DATA_SCHEMA
    released = sorted(path.name for path in CONTRACTS.glob("order-v*.schema.json"))
    assert released == [f"order-v{n}.schema.json" for n in range(1, ORDER_SCHEMA_VERSION + 1)]
    for version in range(1, ORDER_SCHEMA_VERSION + 1):
        assert load(f"order-v{version}.schema.json")["$id"] == f"urn:orders:schema:order:{version}"


def test_events_made_now_validate_against_their_version_as_released() -> None:
    """Within a version changes are additive: the data the code makes now is still what its
    version accepted when it was released (the e2e test checks every record of a whole life)."""
    now = datetime.now(UTC)
    body = OrderIn(
        customer_id="c-1",
        items=[
            LineItem(sku="SKU-1", quantity=2, unit_price_cents=150),
            LineItem(sku="b", quantity=1, unit_price_cents=0),
        ],
    )
    order = new_order(body, now)
    later = now + timedelta(seconds=1)
    stages = {
        EventType.CREATED: order,
        EventType.UPDATED: replace(order, version=2, updated_at=later),
        EventType.CONFIRMED: replace(
            order, status=OrderStatus.CONFIRMED, version=2, confirmed_at=later
        ),
        EventType.SHIPPED: replace(
            order, status=OrderStatus.SHIPPED, version=3, confirmed_at=later, shipped_at=later
        ),
        EventType.DELETED: replace(order, status=OrderStatus.SHIPPED, version=3, shipped_at=later),
    }
    released = released_order_validator(ORDER_SCHEMA_VERSION)
    for event_type, changed in stages.items():
        message = kafka_message(order_event(event_type, order.id, to_json(changed), now))
        assert dict(message.headers)["ce_dataschema"] == DATA_SCHEMA.encode()
        released.validate(orjson.loads(message.value))
    # And the check has teeth: a removed or retyped field is refused.
    data = orjson.loads(to_json(order))
    for broken in ({k: v for k, v in data.items() if k != "total_cents"}, {**data, "version": "1"}):
        assert not released.is_valid(broken)
