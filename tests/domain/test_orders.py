"""Order rules, without I/O."""

import uuid
from datetime import UTC, datetime

import pytest

from shared.domain.lifecycle import OrderStatus
from shared.domain.orders import (
    Item,
    OrderNotEditable,
    OrderNotFound,
    VersionMismatch,
    new_order,
    refuse_change,
)
from shared.domain.schemas import LineItem, OrderIn


def test_new_order_computes_total_and_starts_created() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    body = OrderIn(
        customer_id="c",
        items=[
            LineItem(sku="a", quantity=3, unit_price_cents=7),
            LineItem(sku="b", quantity=1, unit_price_cents=0),
        ],
    )
    order = new_order(body, now)
    assert order.total_cents == 21
    assert order.status is OrderStatus.CREATED
    assert order.version == 1
    assert order.created_at == order.updated_at == now
    assert (order.confirmed_at, order.shipped_at) == (None, None)
    assert order.items[0] == Item(sku="a", quantity=3, unit_price_cents=7)
    assert new_order(body, now).id != order.id


def test_refusals_explain_why() -> None:
    order_id = uuid.uuid4()
    assert isinstance(refuse_change(order_id, None, None, edit=True), OrderNotFound)
    mismatch = refuse_change(order_id, ("CREATED", 3), [2], edit=True)
    assert isinstance(mismatch, VersionMismatch)
    assert mismatch.current_version == 3
    assert isinstance(refuse_change(order_id, ("SHIPPED", 3), [3], edit=True), OrderNotEditable)
    assert isinstance(refuse_change(order_id, ("SHIPPED", 3), None, edit=True), OrderNotEditable)


def test_a_change_that_should_have_applied_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        refuse_change(uuid.uuid4(), ("CREATED", 1), [1], edit=True)
