"""Order rules, free of I/O: what a new order looks like and why a change is refused."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypedDict
from uuid import UUID

import orjson

from shared.domain.ids import uuid7
from shared.domain.lifecycle import EDITABLE_STATUSES, OrderStatus, is_editable
from shared.domain.schemas import OrderIn


class Item(TypedDict):
    """One line of an order, as the database's JSON holds it (a dict: read, never changed; a
    frozen dataclass cost five times the CPU to make from a row)."""

    sku: str
    quantity: int
    unit_price_cents: int


# Not slotted: orjson writes a slotted dataclass at twice the CPU of one with a __dict__.
@dataclass(frozen=True)
class Order:
    """An order as the domain and the store hold it; its JSON (`to_json`, fields in this
    order) is the shape of `shared.domain.schemas.OrderOut`, the API's and every event's. One
    time field per status of the lifecycle (`shared/domain/lifecycle.py`), named as its column."""

    id: UUID
    customer_id: str
    items: tuple[Item, ...]
    total_cents: int
    status: OrderStatus
    version: int
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None = None
    shipped_at: datetime | None = None


class Outcome(StrEnum):
    """What handling an event came to (the metrics' and logs' `outcome`)."""

    APPLIED = "applied"
    # Already done: the order is past the change (a redelivery, a replay, a racing replica).
    DUPLICATE = "duplicate"
    # The order is gone (deleted).
    OBSOLETE = "obsolete"
    # Not now (the database, or the broker, unreachable): asked to be sent again.
    RETRY = "retry"


def to_json(value: object) -> bytes:
    """JSON bytes of an order (or anything holding orders), as the API and events show them."""
    # asyncpg returns its own UUID type, which orjson knows only through its str().
    return orjson.dumps(value, default=str)


class OrderError(Exception):
    """A request that the order's current state refuses."""


class OrderNotFound(OrderError):
    def __init__(self, order_id: UUID) -> None:
        super().__init__(f"order {order_id} does not exist")


class OrderNotEditable(OrderError):
    def __init__(self, order_id: UUID, status: str) -> None:
        editable = " or ".join(sorted(EDITABLE_STATUSES))
        super().__init__(f"order {order_id} is {status}; only {editable} orders can be changed")


@dataclass
class VersionMismatch(OrderError):
    order_id: UUID
    current_version: int
    expected_versions: list[int]

    def __str__(self) -> str:
        return (
            f"order {self.order_id} is at version {self.current_version}, "
            f"not one If-Match accepts ({', '.join(map(str, self.expected_versions)) or 'none'})"
        )


class IdempotencyKeyReused(OrderError):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was already used with a different request body")


def items_of(body: OrderIn) -> tuple[Item, ...]:
    return tuple(
        [
            Item(sku=item.sku, quantity=item.quantity, unit_price_cents=item.unit_price_cents)
            for item in body.items
        ]
    )


def new_order(body: OrderIn, now: datetime) -> Order:
    return Order(
        id=uuid7(),
        customer_id=body.customer_id,
        items=items_of(body),
        total_cents=body.total_cents,
        status=OrderStatus.CREATED,
        version=1,
        created_at=now,
        updated_at=now,
    )


def refuse_change(
    order_id: UUID,
    current: tuple[str, int] | None,
    expected_versions: list[int] | None,
    *,
    edit: bool,
) -> OrderError:
    """Why a conditional update or delete touched no row, given the row's (status, version)."""
    if current is None:
        return OrderNotFound(order_id)
    status, version = current
    if expected_versions is not None and version not in expected_versions:
        return VersionMismatch(order_id, version, expected_versions)
    if edit and not is_editable(OrderStatus(status)):
        return OrderNotEditable(order_id, status)
    raise AssertionError(f"order {order_id} should have been changed")
