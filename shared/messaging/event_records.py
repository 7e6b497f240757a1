"""An OrderEvent as a Kafka record: the CloudEvents SDK's Kafka binding, binary content mode.

The publisher imports this on its first publish, not at start. functions-framework loads the
SDK itself at start, so what that leaves to the first publish is the Kafka binding, about 1 ms.
"""

from typing import Any, cast

from cloudevents.abstract import CloudEvent as AnyCloudEvent
from cloudevents.http import CloudEvent
from cloudevents.kafka import to_binary

from shared.domain.events import DATA_CONTENT_TYPE, OrderEvent
from shared.messaging.kafka import Message


def kafka_message(event: OrderEvent) -> Message:
    attributes = {**event.attributes(), "datacontenttype": DATA_CONTENT_TYPE}
    record = to_binary(
        CloudEvent(attributes, event.data), data_marshaller=_as_stored, key_mapper=_order_id
    )
    # Both bytes: _as_stored returns the outbox's bytes, _order_id encodes.
    key, value = cast(bytes, record.key), cast(bytes, record.value)
    return Message(event.topic, key, value, list(record.headers.items()))


def _as_stored(data: Any) -> Any:
    # The outbox holds the order's JSON as it was written: sent as it is, not parsed and dumped.
    return data


def _order_id(event: AnyCloudEvent) -> bytes:
    # The key is the subject, so every event of one order shares a partition; the binding's
    # default key mapper would want a `partitionkey` attribute, which the contract does not have.
    return str(event["subject"]).encode()
