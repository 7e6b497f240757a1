"""What an event function answers to requests that are not events it may take: always a 400
problem (KafkaSource dead-letters it), never a 2xx that did nothing and never a 5xx (retried)."""

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from shared.runtime.serve import function_app

BINARY = {
    "ce-specversion": "1.0",
    "ce-id": "e-1",
    "ce-source": "/orders/orders_http",
    "ce-type": "orders.order.created",
    "ce-subject": "o-1",
    "content-type": "application/json",
}
ATTRIBUTES = {
    "id": "e-1",
    "source": "/orders/orders_http",
    "type": "orders.order.created",
    "subject": "7f2b1c8e-0c7a-4d7e-9a43-64a1d5e3b0a1",
    "time": "2026-01-01T00:00:00+00:00",
}


@pytest.fixture(scope="module")
async def confirm() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=function_app("confirm"))
    async with httpx.AsyncClient(transport=transport, base_url="http://confirm") as client:
        yield client


async def _refusal(confirm: httpx.AsyncClient, headers: dict[str, str], body: bytes) -> str:
    answer = await confirm.post("/", headers=headers, content=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    detail: str = answer.json()["detail"]
    return detail


@pytest.mark.parametrize(
    ("headers", "body", "complaint"),
    [
        ({}, b"{}", "specversion"),
        ({**BINARY, "ce-specversion": "0.3"}, b"{}", "specversion"),
        ({**BINARY, "ce-specversion": "2.0"}, b"{}", "specversion"),
        ({k: v for k, v in BINARY.items() if k != "ce-id"}, b"{}", "no id"),
        ({k: v for k, v in BINARY.items() if k != "ce-source"}, b"{}", "CloudEvent"),
        ({**BINARY, "ce-type": "orders.order.shipped"}, b"{}", "orders.order.created"),
        ({**BINARY, "ce-subject": "o-1"}, b"{}", "subject"),
        ({**BINARY, "ce-subject": ATTRIBUTES["subject"], "ce-time": "soon"}, b"{}", "time"),
        ({**BINARY, "ce-subject": ATTRIBUTES["subject"]}, b'{"id": "x"}', "data"),
        ({"content-type": "application/cloudevents+json"}, b"[1]", "specversion"),
        ({"content-type": "application/cloudevents+json"}, b"{", "specversion"),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "source": "/s", "type": "t"}',
            "no id",
        ),
    ],
)
async def test_what_is_not_an_event_it_takes_is_refused_with_a_reason(
    confirm: httpx.AsyncClient, headers: dict[str, str], body: bytes, complaint: str
) -> None:
    assert complaint in await _refusal(confirm, headers, body)


async def test_an_event_is_posted(confirm: httpx.AsyncClient) -> None:
    assert "POST" in (await confirm.get("/", headers=BINARY)).json()["detail"]


@pytest.mark.parametrize("encode", [to_binary, to_structured])
async def test_sdk_made_events_are_read_in_both_content_modes(
    confirm: httpx.AsyncClient, encode: Callable[[CloudEvent], tuple[dict[str, str], Any]]
) -> None:
    # A subject that is no order id: the SDK's event reached the step's own checks.
    event = CloudEvent({**ATTRIBUTES, "subject": "not-an-order"}, {"id": "not-an-order"})
    headers, body = encode(event)
    assert "subject must be an order id" in await _refusal(confirm, headers, body)


async def test_base64_data_of_a_structured_event_is_not_an_order(
    confirm: httpx.AsyncClient,
) -> None:
    envelope = {**ATTRIBUTES, "specversion": "1.0"}
    envelope["data_base64"] = base64.b64encode(b"\x00\xff").decode()
    headers = {"content-type": "application/cloudevents+json"}
    assert "data must be the order" in await _refusal(confirm, headers, orjson.dumps(envelope))
