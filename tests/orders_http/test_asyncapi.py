"""The AsyncAPI document: valid AsyncAPI 3.0, one channel per topic, each type sent by its
source and received where a KafkaSource carries it, its payload the API's own order schema, and
a record of each type as the publisher makes it matching its message."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from functions.orders_http.asyncapi import asyncapi_document
from functions.orders_http.asyncapi_channels import CONSUMERS
from functions.orders_http.openapi import openapi_document
from shared.domain.events import (
    ALL_TOPICS,
    DATA_SCHEMA,
    DEAD_LETTER_TOPIC,
    SOURCES,
    TOPICS,
    EventType,
    order_event,
)
from shared.domain.orders import new_order, to_json
from shared.domain.schemas import LineItem, OrderIn
from shared.flows.steps import CONFIRM, SHIP
from shared.local.manifests import kafka_sources
from shared.messaging.event_records import kafka_message
from tests.event_contract import EventContract, asyncapi_validator, document, resolve

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _refs(part: Any) -> list[str]:
    if isinstance(part, dict):
        own = [part["$ref"]] if isinstance(part.get("$ref"), str) else []
        return own + [ref for value in part.values() for ref in _refs(value)]
    if isinstance(part, list):
        return [ref for value in part for ref in _refs(value)]
    return []


async def test_served_as_json_with_head(client: httpx.AsyncClient) -> None:
    got = await client.get("/asyncapi.json")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    assert got.content == asyncapi_document()
    head = await client.head("/asyncapi.json")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]


def test_the_document_is_valid_asyncapi_3_0() -> None:
    validator = asyncapi_validator()
    validator.validate(document())
    # The schema is no empty shell: it refuses what AsyncAPI 3.0 does not allow.
    broken = document()
    broken["operations"]["sendOrderCreated"]["action"] = "publish"  # AsyncAPI 2's word
    assert not validator.is_valid(broken)


def test_every_reference_resolves_within_the_document() -> None:
    whole = document()
    refs = _refs(whole)
    assert refs
    for ref in refs:
        assert resolve(whole, ref) is not None, ref


def test_one_channel_per_topic_dead_letters_included() -> None:
    addresses = [channel["address"] for channel in document()["channels"].values()]
    assert sorted(addresses) == sorted(ALL_TOPICS)


def test_each_type_is_sent_by_its_source_on_its_topic() -> None:
    whole = document()
    contract = EventContract(whole)
    sent = {
        (resolve(whole, operation["channel"]["$ref"])["address"], tag["name"])
        for operation in whole["operations"].values()
        if operation["action"] == "send"
        for tag in operation["tags"]
    }
    for event_type, topic in TOPICS.items():
        assert (topic, SOURCES[event_type].removeprefix("/orders/")) in sent
        _, channel = contract.channel(topic)
        [ref] = channel["messages"].values()
        headers = resolve(whole, ref["$ref"])["headers"]["properties"]
        assert headers["ce_type"] == {"const": event_type}
        assert headers["ce_source"] == {"const": SOURCES[event_type]}
        assert headers["ce_dataschema"]["const"] == DATA_SCHEMA


def test_each_type_is_received_where_a_kafka_source_delivers_it() -> None:
    whole = document()
    received = {
        (
            resolve(whole, operation["channel"]["$ref"])["address"],
            operation["tags"][0]["name"],
            operation["bindings"]["kafka"]["groupId"]["enum"][0],
        )
        for operation in whole["operations"].values()
        if operation["action"] == "receive"
    }
    # The manifests the cluster applies and `make dev` runs, and the steps' own types.
    sources = kafka_sources()
    assert received == {
        (topic, source.sink_service, source.consumer_group)
        for source in sources
        for topic in source.topics
    }
    assert {source.name for source in sources} == {c.kafka_source for c in CONSUMERS.values()}
    assert {source.delivery.dead_letter_topic for source in sources} == {DEAD_LETTER_TOPIC}
    assert {step.accepts for step in (CONFIRM, SHIP)} == set(CONSUMERS)
    assert {TOPICS[step.accepts] for step in (CONFIRM, SHIP)} == {t for t, _, _ in received}


def test_the_payload_is_the_order_schema_of_the_openapi_document() -> None:
    asyncapi = document()["components"]["schemas"]
    openapi = orjson.loads(openapi_document())["components"]["schemas"]
    assert set(asyncapi) == {"OrderOut", "LineItem", "OrderStatus"}
    assert {name: openapi[name] for name in asyncapi} == asyncapi
    for message in document()["components"]["messages"].values():
        if "contentType" in message:
            assert message["payload"] == {"$ref": "#/components/schemas/OrderOut"}


def _order(**changes: Any) -> bytes:
    body = OrderIn(customer_id="c-1", items=[LineItem(sku="a", quantity=2, unit_price_cents=150)])
    return to_json(replace(new_order(body, datetime.now(UTC)), **changes))


def test_a_record_of_each_type_matches_its_message() -> None:
    contract = EventContract(document())
    now = datetime.now(UTC)
    data = {
        EventType.CREATED: _order(),
        EventType.UPDATED: _order(version=2),
        EventType.DELETED: _order(version=2),
        EventType.CONFIRMED: _order(status="CONFIRMED", version=2, confirmed_at=now),
        EventType.SHIPPED: _order(status="SHIPPED", version=3, confirmed_at=now, shipped_at=now),
    }
    for event_type, value in data.items():
        order_id = uuid.UUID(orjson.loads(value)["id"])
        for traceparent in (None, TRACEPARENT):
            event = order_event(event_type, order_id, value, now, traceparent)
            message = kafka_message(event)
            headers = {name: raw.decode() for name, raw in message.headers}
            name = contract.check(message.topic, message.key.decode(), headers, message.value)
            assert name == "order" + event_type.split(".")[-1].capitalize()


def test_a_record_off_the_contract_matches_no_message() -> None:
    contract = EventContract(document())
    value = _order()
    order_id = uuid.UUID(orjson.loads(value)["id"])
    event = order_event(EventType.CREATED, order_id, value, datetime.now(UTC))
    message = kafka_message(event)
    headers = {name: raw.decode() for name, raw in message.headers}
    for wrong in (
        {"ce_type": "orders.order.updated"},  # another type's
        {"ce_source": "/orders/confirm"},
        {"ce_time": "2026-11-27T10:38:40"},  # no UTC offset
        {"ce_subject": "not-an-order"},
        {"ce_dataschema": "urn:orders:schema:order:2"},
    ):
        try:
            contract.check(message.topic, message.key.decode(), {**headers, **wrong}, value)
        except AssertionError:
            continue
        raise AssertionError(f"{wrong} was taken for a message of the contract")
