"""Order rules, free of I/O: what a new order looks like and why a change is refused."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from shared.domain.ids import uuid7
from shared.domain.lifecycle import OrderStatus, is_editable
from shared.domain.schemas import OrderIn

Order = dict[str, Any]
"""An order as the API shows it: the shape of `shared.domain.schemas.OrderOut`, JSON-ready for
orjson."""


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
        super().__init__(f"order {order_id} is {status}; only CREATED orders can be changed")


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


def new_order(body: OrderIn, now: datetime) -> Order:
    return {
        "id": uuid7(),
        "customer_id": body.customer_id,
        "items": body.model_dump()["items"],
        "total_cents": body.total_cents,
        "status": OrderStatus.CREATED.value,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "confirmed_at": None,
        "shipped_at": None,
    }


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
