"""What the local KafkaSource makes of a Kafka record, through the CloudEvents SDK: the request
that carries it to the sink (HTTP binding, binary content mode) and, when the sink refuses it,
the dead letter written back to Kafka (Kafka binding, binary content mode).

As Knative's KafkaSource does, a record that is a CloudEvent goes as its producer wrote it, and
any other record is wrapped in a `dev.knative.kafka.event` whose id and subject say where it lies.
"""

import base64
from collections.abc import Mapping
from typing import Any, NamedTuple, Self

from cloudevents import abstract, conversion, kafka
from cloudevents.exceptions import GenericException

from shared.local.manifests import KafkaSourceSpec
from shared.messaging.kafka import Record

WRAPPED_TYPE = "dev.knative.kafka.event"


class AsRecorded(abstract.CloudEvent):
    """A CloudEvent with exactly the attributes it was read with. The SDK's own
    (`cloudevents.http.CloudEvent`) makes up an `id` and a `time` for a record without them,
    which Knative's KafkaSource does not: the sink must judge what the producer wrote."""

    def __init__(self, attributes: Mapping[str, Any], data: Any) -> None:
        self._attributes = dict(attributes)
        self._data = data

    @classmethod
    def create(cls, attributes: Mapping[str, Any], data: Any) -> Self:
        return cls(attributes, data)

    def _get_attributes(self) -> dict[str, Any]:
        return self._attributes

    def get_data(self) -> Any:
        return self._data


class Delivery(NamedTuple):
    event: AsRecorded
    headers: dict[str, str]
    body: bytes


def delivery(record: Record, spec: KafkaSourceSpec) -> Delivery:
    """The HTTP request that carries `record` (an aiokafka ConsumerRecord) to the sink."""
    value = record.value or b""
    headers = {name: v for name, v in record.headers or () if v is not None}
    if "ce_specversion" in headers:
        # Without the key: the SDK would add it as a `partitionkey` attribute, which Knative's
        # KafkaSource (the CloudEvents Java SDK's Kafka deserializer) does not for a CloudEvent.
        message = kafka.KafkaMessage(headers, None, value)
        try:
            return _http_delivery(kafka.from_binary(message, AsRecorded, _as_is))
        except (GenericException, ValueError):
            # A specversion the SDK does not know (Knative wraps those too), or a header that is
            # not UTF-8 (Knative would pass it on with replacement characters).
            pass
    return _http_delivery(_wrapped(record, headers, value, spec))


def dead_letter(
    event: AsRecorded, key: bytes | None, sink: str, status: int | None, answer: bytes
) -> kafka.KafkaMessage:
    """The record for the dead-letter topic when `sink` refused `event`, keyed as the record
    it came from, with Knative's error extensions: the sink, its status (-1 when it did not
    answer) and the first KiB of its answer (base64)."""
    attributes = {
        "datacontenttype": None,  # the binding reads it, and writes no header when it is None
        **event.get_attributes(),
        "knativeerrordest": sink,
        "knativeerrorcode": str(status if status is not None else -1),
        "knativeerrordata": base64.b64encode(answer[:1024]).decode(),
    }
    return kafka.to_binary(
        AsRecorded(attributes, event.get_data()),
        data_marshaller=_as_is,
        key_mapper=lambda _: key,
    )


def _wrapped(
    record: Record, headers: Mapping[str, bytes], value: bytes, spec: KafkaSourceSpec
) -> AsRecorded:
    where = f"partition:{record.partition}"
    attributes = {
        "specversion": "1.0",
        "id": f"{where}/offset:{record.offset}",
        "type": WRAPPED_TYPE,
        "source": f"/apis/v1/namespaces/{spec.namespace}/kafkasources/{spec.name}#{record.topic}",
        "subject": f"{where}#{record.offset}",
    }
    for name, header in headers.items():
        if name.lower() == "content-type":
            attributes["datacontenttype"] = header.decode("utf-8", "replace")
    return AsRecorded(attributes, value)


def _http_delivery(event: AsRecorded) -> Delivery:
    headers, body = conversion.to_binary(event, data_marshaller=_as_is)
    return Delivery(event, headers, body)


def _as_is(data: Any) -> Any:
    # The record's value is the data, bytes in and bytes out: never parsed and dumped again
    # (the SDK's Kafka binding would parse it as JSON by default).
    return data
