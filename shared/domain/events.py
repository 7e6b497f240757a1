"""The event contract: CloudEvents 1.0 announcing order changes, as plain data.

One topic per type; key = order id, so all events of one order share a partition; `id` is the
outbox row's id, so a re-publish carries the same id.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.domain.ids import uuid7


class EventType(StrEnum):
    CREATED = "orders.order.created"
    CONFIRMED = "orders.order.confirmed"
    SHIPPED = "orders.order.shipped"
    UPDATED = "orders.order.updated"
    DELETED = "orders.order.deleted"


TOPICS: dict[EventType, str] = {
    EventType.CREATED: "orders.created",
    EventType.CONFIRMED: "orders.confirmed",
    EventType.SHIPPED: "orders.shipped",
    EventType.UPDATED: "orders.updated",
    EventType.DELETED: "orders.deleted",
}
DEAD_LETTER_TOPIC = "orders.dlq"
ALL_TOPICS = (*TOPICS.values(), DEAD_LETTER_TOPIC)

# The function that announces each type; consumers accept a type only from its owner.
SOURCES: dict[EventType, str] = {
    EventType.CREATED: "/orders/orders_http",
    EventType.UPDATED: "/orders/orders_http",
    EventType.DELETED: "/orders/orders_http",
    EventType.CONFIRMED: "/orders/confirm",
    EventType.SHIPPED: "/orders/ship",
}
DATA_CONTENT_TYPE = "application/json"
# What every event's data is (the order, `shared.domain.schemas.OrderOut`), named by its
# `dataschema` attribute (a URI, as CloudEvents asks: a URN here). Within a version, changes are
# additive: a field may be added, none removed, renamed, retyped or narrowed; anything else is a
# new version under a new dataschema. `tests/contracts/order-v1.schema.json` is version 1 as
# released.
ORDER_SCHEMA_VERSION = 1
DATA_SCHEMA = f"urn:orders:schema:order:{ORDER_SCHEMA_VERSION}"
TRACEPARENT_PATTERN = r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}"
_TRACEPARENT = re.compile(TRACEPARENT_PATTERN)


def valid_traceparent(value: object) -> str | None:
    """A W3C traceparent worth carrying on, or None."""
    return value if isinstance(value, str) and _TRACEPARENT.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One outbox row: a CloudEvent about one order. `data` is the order's JSON."""

    id: UUID
    order_id: UUID
    type: str
    source: str
    time: datetime
    data: bytes
    traceparent: str | None = None

    @property
    def topic(self) -> str:
        return TOPICS[EventType(self.type)]

    def attributes(self) -> dict[str, str]:
        """CloudEvent context attributes (and extensions), as strings."""
        attributes = {
            "specversion": "1.0",
            "id": str(self.id),
            "source": self.source,
            "type": self.type,
            "subject": str(self.order_id),
            "time": self.time.isoformat(),
            "dataschema": DATA_SCHEMA,
        }
        if self.traceparent:
            attributes["traceparent"] = self.traceparent
        return attributes


def order_event(
    event_type: EventType,
    order_id: UUID,
    data: bytes,
    time: datetime,
    traceparent: str | None = None,
) -> OrderEvent:
    return OrderEvent(
        id=uuid7(),
        order_id=order_id,
        type=event_type.value,
        source=SOURCES[event_type],
        time=time,
        data=data,
        traceparent=traceparent,
    )
