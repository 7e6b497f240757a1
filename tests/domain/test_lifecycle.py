import pytest

from shared.domain.lifecycle import NEXT_STATUS, OrderStatus, is_editable, previous_status


def test_an_order_moves_created_confirmed_shipped_and_stops() -> None:
    assert NEXT_STATUS[OrderStatus.CREATED] is OrderStatus.CONFIRMED
    assert NEXT_STATUS[OrderStatus.CONFIRMED] is OrderStatus.SHIPPED
    assert OrderStatus.SHIPPED not in NEXT_STATUS


def test_previous_status() -> None:
    assert previous_status(OrderStatus.CONFIRMED) is OrderStatus.CREATED
    assert previous_status(OrderStatus.SHIPPED) is OrderStatus.CONFIRMED
    with pytest.raises(ValueError, match="no transition"):
        previous_status(OrderStatus.CREATED)


def test_only_created_orders_are_editable() -> None:
    assert [s for s in OrderStatus if is_editable(s)] == [OrderStatus.CREATED]
