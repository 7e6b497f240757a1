"""Micro-benchmarks of the pure steps every order goes through, in microseconds per call."""

import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from shared.domain.events import EventType, order_event
from shared.domain.orders import new_order, to_json
from shared.domain.schemas import OrderIn
from shared.messaging.event_records import kafka_message

BODY = (
    b'{"customer_id":"cust-42","items":[{"sku":"ABC-1","quantity":2,"unit_price_cents":1299},'
    b'{"sku":"XYZ-9","quantity":1,"unit_price_cents":500}]}'
)


def _cases() -> dict[str, Callable[[], object]]:
    body = OrderIn.model_validate_json(BODY)
    now = datetime.now(UTC)
    order = new_order(body, now)
    payload = to_json(order)
    event = order_event(EventType.CREATED, uuid.uuid4(), payload, now, None)
    return {
        "validate a create body": lambda: OrderIn.model_validate_json(BODY),
        "build a new order": lambda: new_order(body, now),
        "order to JSON": lambda: to_json(order),
        "event and its Kafka record": lambda: kafka_message(
            order_event(EventType.CREATED, order.id, payload, now, None)
        ),
        "Kafka record of an event": lambda: kafka_message(event),
    }


def run(number: int = 20_000) -> dict[str, float]:
    """Best of five repeats, per call."""
    return {
        name: min(timeit.repeat(case, number=number, repeat=5)) / number * 1e6
        for name, case in _cases().items()
    }
