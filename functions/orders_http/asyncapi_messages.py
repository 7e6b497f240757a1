"""The AsyncAPI document's messages: each event type's, a CloudEvent in Kafka's binary content
mode (its attributes as `ce_` headers, the order as the value, the order id as the key), and
the dead letter's, a refused record as it was with Knative's error extensions."""

from typing import Any

from shared.domain.events import (
    DATA_CONTENT_TYPE,
    DATA_SCHEMA,
    SOURCES,
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

_WHEN = {
    EventType.CREATED: "an order was created (`POST /`)",
    EventType.UPDATED: "an order was replaced while CREATED (`PUT /{id}`)",
    EventType.DELETED: "an order was deleted (`DELETE /{id}`); the data is the order as it was",
    **{
        step.announces: f"an order moved from {step.leaves} to {step.reaches}"
        for step in TRANSITIONS
    },
}


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
