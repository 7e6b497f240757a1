"""What the local KafkaSource makes of a record: the request to the sink and the dead letter."""

import base64

from aiokafka.structs import ConsumerRecord

from shared.local.manifests import kafka_sources
from shared.local.source_events import WRAPPED_TYPE, dead_letter, delivery

SPEC = kafka_sources()[0]
# Compact JSON: a parse and dump on the way would show as '{"n": 1}'.
VALUE = b'{"n":1}'
CLOUDEVENT = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"e-1"),
    ("ce_type", b"orders.order.created"),
    ("ce_source", b"/orders/orders_http"),
    ("ce_subject", b"o-1"),
    ("ce_traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("content-type", b"application/json"),
]


def _record(headers: list[tuple[str, bytes]], value: bytes | None = VALUE) -> ConsumerRecord:
    return ConsumerRecord(
        "orders.created", 2, 41, 0, 0, b"o-1", value, None, 3, len(value or b""), headers
    )


def test_a_cloudevent_goes_as_its_producer_wrote_it() -> None:
    request = delivery(_record(CLOUDEVENT), SPEC)
    assert request.headers == {
        "ce-specversion": "1.0",
        "ce-id": "e-1",
        "ce-type": "orders.order.created",
        "ce-source": "/orders/orders_http",
        "ce-subject": "o-1",
        "ce-traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "content-type": "application/json",
    }
    # No ce-partitionkey from the record's key, and no ce-time the SDK's own event would invent.
    assert request.body == VALUE


def test_a_cloudevent_without_data_has_an_empty_body() -> None:
    assert delivery(_record(CLOUDEVENT, None), SPEC).body == b""


def test_a_plain_record_is_wrapped_where_it_lies() -> None:
    request = delivery(_record([("Content-Type", b"text/plain"), ("ce_id", b"x")]), SPEC)
    assert request.headers == {
        "ce-specversion": "1.0",
        "ce-id": "partition:2/offset:41",
        "ce-type": WRAPPED_TYPE,
        "ce-source": f"/apis/v1/namespaces/{SPEC.namespace}/kafkasources/{SPEC.name}#orders.created",
        "ce-subject": "partition:2#41",
        "content-type": "text/plain",
    }
    assert request.body == VALUE


def test_a_specversion_the_sdk_does_not_know_is_wrapped() -> None:
    request = delivery(_record([("ce_specversion", b"2.0"), *CLOUDEVENT[1:]]), SPEC)
    assert request.headers["ce-type"] == WRAPPED_TYPE


def test_a_dead_letter_keeps_event_key_and_data_and_says_why() -> None:
    event = delivery(_record(CLOUDEVENT), SPEC).event
    letter = dead_letter(event, b"o-1", "http://confirm/", 400, b"x" * 2000)
    assert letter.key == b"o-1"
    assert letter.value == VALUE
    assert letter.headers == {
        **{name: value for name, value in CLOUDEVENT},
        "ce_knativeerrordest": b"http://confirm/",
        "ce_knativeerrorcode": b"400",
        "ce_knativeerrordata": base64.b64encode(b"x" * 1024),
    }
    unanswered = dead_letter(event, None, "http://confirm/", None, b"")
    assert unanswered.headers["ce_knativeerrorcode"] == b"-1"
    assert unanswered.key is None


def test_a_dead_letter_without_a_content_type_has_none() -> None:
    event = delivery(_record(CLOUDEVENT[:-1]), SPEC).event
    assert "content-type" not in dead_letter(event, b"o-1", "http://ship/", 500, b"").headers
