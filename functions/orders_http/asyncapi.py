"""The AsyncAPI 3.0 document of the events, built once from the event contract's own data
(`shared/domain/events.py`) and the models the API answers with (`shared/domain/schemas.py`),
as the OpenAPI document is: the payload of every event is the order schema `/openapi.json` shows.

One channel per topic, its address the topic's name; each message is a CloudEvent in Kafka's
binary content mode (its attributes as `ce_` headers, the order as the JSON value, the order id
as the key). Each type is sent by the function that announces it and received where a
KafkaSource carries it to a step; what a step refuses lands on the dead-letter topic.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from shared.domain.events import (
    DATA_CONTENT_TYPE,
    DATA_SCHEMA,
    DEAD_LETTER_TOPIC,
    SOURCES,
    TOPICS,
    TRACEPARENT_PATTERN,
    EventType,
)
from shared.domain.lifecycle import TRANSITIONS
from shared.domain.schemas import OrderOut

_REF = "#/components/schemas/{model}"
_KAFKA_BINDING = "0.5.0"
# The headers every event of the contract carries (the others are optional).
REQUIRED_HEADERS = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_subject",
    "ce_time",
    "content-type",
)
DEAD_LETTER_MESSAGE = "deadLetter"


@dataclass(frozen=True)
class Consumer:
    """Where a type is consumed: the step's function and the KafkaSource that feeds it
    (`knative/kafka-sources.yaml`, which the tests compare with this)."""

    function: str
    kafka_source: str
    consumer_group: str


CONSUMERS: dict[EventType, Consumer] = {
    EventType.CREATED: Consumer("confirm", "confirm-on-created", "orders-confirm"),
    EventType.CONFIRMED: Consumer("ship", "ship-on-confirmed", "orders-ship"),
}

_WHEN = {
    EventType.CREATED: "an order was created (`POST /`)",
    EventType.UPDATED: "an order was replaced while CREATED (`PUT /{id}`)",
    EventType.DELETED: "an order was deleted (`DELETE /{id}`); the data is the order as it was",
    **{
        step.announces: f"an order moved from {step.leaves} to {step.reaches}"
        for step in TRANSITIONS
    },
}


def _camel(*words: str) -> str:
    return words[0] + "".join(word[:1].upper() + word[1:] for word in words[1:])


def channel_id(topic: str) -> str:
    """`orders.created` -> `ordersCreated`."""
    return _camel(*topic.split("."))


def message_id(event_type: EventType) -> str:
    """`orders.order.created` -> `orderCreated`."""
    return _camel(*event_type.split(".")[1:])


def _function(source: str) -> str:
    return source.removeprefix("/orders/")


_TRACEPARENT = {
    "type": "string",
    "pattern": f"^{TRACEPARENT_PATTERN}$",
    "description": "W3C trace context of the request that caused the change, when it had a"
    " valid one",
}
_ORDER_ID = {"type": "string", "format": "uuid"}


def _event_headers(event_type: EventType) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The CloudEvent's attributes, one `ce_` header each (binary content mode)",
        "required": list(REQUIRED_HEADERS),
        "properties": {
            "ce_specversion": {"const": "1.0"},
            "ce_id": {
                "type": "string",
                "format": "uuid",
                "description": "The outbox row's id: a re-publish keeps it; deduplicate on it",
            },
            "ce_source": {"const": SOURCES[event_type]},
            "ce_type": {"const": str(event_type)},
            "ce_subject": {**_ORDER_ID, "description": "The order id (also the record's key)"},
            "ce_time": {
                "type": "string",
                "format": "date-time",
                "description": "When the change was committed (RFC 3339, with its UTC offset)",
            },
            "ce_traceparent": _TRACEPARENT,
            "ce_dataschema": {
                "const": DATA_SCHEMA,
                "description": "The schema of the data and its version; within a version changes"
                " are additive, a new version has a new dataschema",
            },
            "content-type": {"const": DATA_CONTENT_TYPE},
        },
    }


def _kafka_key(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "kafka": {"key": {**schema, "description": description}, "bindingVersion": _KAFKA_BINDING}
    }


def _event_message(event_type: EventType) -> dict[str, Any]:
    return {
        "name": str(event_type),
        "title": f"Order {event_type.split('.')[-1]}",
        "summary": f"{_WHEN[event_type][0].upper()}{_WHEN[event_type][1:]}.",
        "contentType": DATA_CONTENT_TYPE,
        "headers": _event_headers(event_type),
        "payload": {"$ref": _REF.format(model=OrderOut.__name__)},
        "bindings": _kafka_key(
            "The order id: every event of one order shares a partition", _ORDER_ID
        ),
    }


def _dead_letter_message() -> dict[str, Any]:
    anything = {"type": "string"}
    return {
        "name": "dead letter",
        "title": "A refused event",
        "summary": "An event a step refused (a 4xx answer) or that still failed after the"
        " KafkaSource's retries, as it was delivered, with Knative's error extensions.",
        "description": "The record's key and value and the event's attributes are the refused"
        " record's, as they were (a record that was no CloudEvent arrives wrapped, as the type"
        " `dev.knative.kafka.event`); a refused event need not be one of the contract's.",
        "headers": {
            "type": "object",
            "required": [
                "ce_specversion",
                "ce_id",
                "ce_source",
                "ce_type",
                "ce_knativeerrordest",
                "ce_knativeerrorcode",
            ],
            "properties": {
                **{
                    f"ce_{name}": anything
                    for name in ("specversion", "id", "source", "type", "subject", "time")
                },
                "ce_traceparent": anything,
                "ce_dataschema": anything,
                "content-type": anything,
                "ce_knativeerrordest": {
                    "type": "string",
                    "format": "uri",
                    "description": "The sink that refused the event",
                },
                "ce_knativeerrorcode": {
                    "type": "string",
                    "pattern": "^(-1|[1-5][0-9][0-9])$",
                    "description": "The sink's last HTTP status; -1 when it did not answer",
                },
                "ce_knativeerrordata": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "description": "The start of the sink's answer (base64)",
                },
            },
        },
        "payload": {
            "description": "The refused record's value, byte for byte: for an event of this"
            " contract, the order, as on the topic it came from"
        },
        "bindings": _kafka_key(
            "The refused record's key, as it was (if it had one)", {"type": "string"}
        ),
    }


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {
        channel_id(topic): {
            "address": topic,
            "title": topic,
            "description": f"One `{event_type}` event each time {_WHEN[event_type]}.",
            "messages": {
                message_id(event_type): {"$ref": f"#/components/messages/{message_id(event_type)}"}
            },
        }
        for event_type, topic in TOPICS.items()
    }
    channels[channel_id(DEAD_LETTER_TOPIC)] = {
        "address": DEAD_LETTER_TOPIC,
        "title": DEAD_LETTER_TOPIC,
        "description": "Dead letters: what confirm or ship refused, or what failed past the"
        " retries of the KafkaSource that delivered it.",
        "messages": {DEAD_LETTER_MESSAGE: {"$ref": f"#/components/messages/{DEAD_LETTER_MESSAGE}"}},
    }
    return channels


def _channel_ref(topic: str) -> dict[str, str]:
    return {"$ref": f"#/channels/{channel_id(topic)}"}


def _message_ref(topic: str, message: str) -> dict[str, str]:
    return {"$ref": f"#/channels/{channel_id(topic)}/messages/{message}"}


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for event_type, topic in TOPICS.items():
        message = message_id(event_type)
        function = _function(SOURCES[event_type])
        operations[_camel("send", message)] = {
            "action": "send",
            "channel": _channel_ref(topic),
            "messages": [_message_ref(topic, message)],
            "title": f"{function} sends {event_type}",
            "summary": f"{function} announces each such change right after its commit;"
            " outbox_relay publishes it again, same id, when that publish failed or the order"
            " stalled.",
            "tags": [{"name": function}],
        }
        consumer = CONSUMERS.get(event_type)
        if consumer is not None:
            operations[_camel("receive", message)] = {
                "action": "receive",
                "channel": _channel_ref(topic),
                "messages": [_message_ref(topic, message)],
                "title": f"{consumer.function} receives {event_type}",
                "summary": f"The KafkaSource {consumer.kafka_source} delivers each to"
                f" {consumer.function} over HTTP (at least once; a 4xx or a failure past its"
                f" retries goes to {DEAD_LETTER_TOPIC}).",
                "tags": [{"name": consumer.function}],
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "enum": [consumer.consumer_group]},
                        "bindingVersion": _KAFKA_BINDING,
                    }
                },
            }
    sources = sorted(consumer.kafka_source for consumer in CONSUMERS.values())
    operations["sendDeadLetter"] = {
        "action": "send",
        "channel": _channel_ref(DEAD_LETTER_TOPIC),
        "messages": [_message_ref(DEAD_LETTER_TOPIC, DEAD_LETTER_MESSAGE)],
        "title": f"The KafkaSources send dead letters to {DEAD_LETTER_TOPIC}",
        "summary": f"{' and '.join(sources)}, through the KafkaSink of their deadLetterSink.",
        "tags": [{"name": source} for source in sources],
    }
    return operations


@cache
def asyncapi_document() -> bytes:
    _, schemas = models_json_schema([(OrderOut, "serialization")], ref_template=_REF)
    messages: dict[str, Any] = {
        message_id(event_type): _event_message(event_type) for event_type in TOPICS
    }
    messages[DEAD_LETTER_MESSAGE] = _dead_letter_message()
    document = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "orders events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 on Kafka, binary content mode, one topic per type."
            " Delivery is at least once: deduplicate on `ce_id`, order by the data's `version`."
            f" The data is the order, named by `ce_dataschema` ({DATA_SCHEMA}): within a"
            " version changes are additive (a field may be added; none is removed, renamed,"
            " retyped or narrowed), and any other change is a new version with a new"
            " dataschema.",
        },
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The brokers of KAFKA_BOOTSTRAP_SERVERS",
                "variables": {
                    "bootstrap": {
                        "default": "orders-kafka-bootstrap.orders.svc:9092",
                        "description": "Strimzi's bootstrap service in the cluster; `make dev`"
                        " runs one on 127.0.0.1:9092",
                        "examples": ["127.0.0.1:9092"],
                    }
                },
            }
        },
        "channels": _channels(),
        "operations": _operations(),
        "components": {"schemas": schemas["$defs"], "messages": messages},
    }
    return orjson.dumps(document)


def asyncapi_response() -> Response:
    return Response(asyncapi_document(), media_type="application/json")
