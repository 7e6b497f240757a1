"""The order status state machine: every allowed transition lives here and nowhere else."""

from enum import StrEnum


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"


NEXT_STATUS: dict[OrderStatus, OrderStatus] = {
    OrderStatus.CREATED: OrderStatus.CONFIRMED,
    OrderStatus.CONFIRMED: OrderStatus.SHIPPED,
}

EDITABLE_STATUSES: frozenset[OrderStatus] = frozenset({OrderStatus.CREATED})


def previous_status(status: OrderStatus) -> OrderStatus:
    """The only status an order may leave to reach `status`."""
    for before, after in NEXT_STATUS.items():
        if after is status:
            return before
    raise ValueError(f"no transition leads to {status}")


def is_editable(status: OrderStatus) -> bool:
    return status in EDITABLE_STATUSES
