"""Reading CloudEvents from requests: both content modes, and everything that is not one."""

import base64
import contextlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.cloudevent import NotACloudEvent, from_request

BINARY = {
    "ce-specversion": "1.0",
    "ce-id": "e-1",
    "ce-source": "/orders/orders_http",
    "ce-type": "orders.order.created",
    "ce-subject": "o-1",
    "content-type": "application/json",
}


def test_binary_mode_reads_attributes_and_json_data() -> None:
    event = from_request(BINARY, b'{"id": "o-1"}')
    assert event["id"] == "e-1"
    assert event.get("subject") == "o-1"
    assert event.get("datacontenttype") == "application/json"
    assert event.data == {"id": "o-1"}


def test_structured_mode_reads_the_envelope() -> None:
    envelope = {"specversion": "1.0", "id": "e-2", "source": "/s", "type": "t", "data": [1]}
    event = from_request(
        {"content-type": "application/cloudevents+json; charset=utf-8"}, orjson.dumps(envelope)
    )
    assert event["type"] == "t"
    assert event.data == [1]
    assert "data" not in event.attributes


def test_structured_mode_decodes_base64_data() -> None:
    envelope = {"specversion": "1.0", "id": "e", "source": "/s", "type": "t"}
    envelope["data_base64"] = base64.b64encode(b"\x00\xff").decode()
    event = from_request({"content-type": "application/cloudevents+json"}, orjson.dumps(envelope))
    assert event.data == b"\x00\xff"


def test_binary_data_that_is_not_json_stays_bytes() -> None:
    event = from_request({**BINARY, "content-type": "application/octet-stream"}, b"\xff\x00")
    assert event.data == b"\xff\x00"


@pytest.mark.parametrize(
    ("headers", "body", "complaint"),
    [
        ({}, b"{}", "neither ce- headers"),
        ({**BINARY, "ce-specversion": "0.3"}, b"{}", "specversion"),
        ({k: v for k, v in BINARY.items() if k != "ce-id"}, b"{}", "id attribute"),
        ({**BINARY, "ce-type": ""}, b"{}", "type attribute"),
        (BINARY, b'{"id": ', "not valid JSON"),
        (BINARY, b'"\xff\xfe"', "not valid JSON"),
        ({"content-type": "application/cloudevents+json"}, b"[1]", "JSON object"),
        ({"content-type": "application/cloudevents-batch+json"}, b"[]", "batched"),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "e", "source": "/s", "type": 5}',
            "type attribute",
        ),
    ],
)
def test_what_is_not_a_cloudevent_is_refused_with_a_reason(
    headers: dict[str, str], body: bytes, complaint: str
) -> None:
    with pytest.raises(NotACloudEvent, match=complaint):
        from_request(headers, body)


@given(
    headers=st.dictionaries(
        st.sampled_from([*BINARY, "ce-time", "ce-traceparent", "x-other"]), st.text(max_size=20)
    ),
    body=st.binary(max_size=200),
)
def test_any_request_is_an_event_or_a_refusal(headers: dict[str, str], body: bytes) -> None:
    with contextlib.suppress(NotACloudEvent):
        from_request(headers, body)
