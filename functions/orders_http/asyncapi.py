"""The AsyncAPI 3.0 document of the events, built once from the event contract's own data
(`shared/domain/events.py`) and the models the API answers with (`shared/domain/schemas.py`),
as the OpenAPI document is: the payload of every event is the order schema `/openapi.json` shows.

One channel per topic, its address the topic's name; each message is a CloudEvent in Kafka's
binary content mode (its attributes as `ce_` headers, the order as the JSON value, the order id
as the key). Each type is sent by the function that announces it and received where a
KafkaSource carries it to a step; what a step refuses lands on the dead-letter topic.

Built on the first request for it: its parts (`asyncapi_messages`, `asyncapi_channels`) are
imported then, not when the function starts.
"""

from functools import cache
from typing import Any

import orjson
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from shared.domain.events import DATA_SCHEMA, TOPICS
from shared.domain.schemas import OrderOut


@cache
def asyncapi_document() -> bytes:
    from functions.orders_http.asyncapi_channels import _channels, _operations, message_id
    from functions.orders_http.asyncapi_messages import (
        _REF,
        DEAD_LETTER_MESSAGE,
        _dead_letter_message,
        _event_message,
    )

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
