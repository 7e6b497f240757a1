"""The AsyncAPI document's channels and operations: one channel per topic, each type sent by
the function that announces it and received where a KafkaSource carries it to a step (its
consumers, which the tests compare with `knative/kafka-sources.yaml`), and the dead letters
the KafkaSources send."""

from dataclasses import dataclass
from typing import Any

from functions.orders_http.asyncapi_messages import _KAFKA_BINDING, _WHEN, DEAD_LETTER_MESSAGE
from shared.domain.events import DEAD_LETTER_TOPIC, SOURCES, TOPICS, EventType


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
