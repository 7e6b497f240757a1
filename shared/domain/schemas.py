"""API schemas: what clients send and receive. The HTTP function validates with these,
and the OpenAPI document is generated from them."""

import re
from datetime import datetime
from typing import Annotated, TypeGuard
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.domain.lifecycle import OrderStatus

MAX_ITEMS = 100
# Bounds keep 100 lines of quantity * price well inside a signed 64-bit total.
MAX_QUANTITY = 1_000_000
MAX_UNIT_PRICE_CENTS = 10_000_000_000
# The widths of the columns: orders.version is a PostgreSQL integer, total_cents a bigint.
MAX_VERSION = 2**31 - 1
MAX_BIGINT = 2**63 - 1

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:@-]+$"
MAX_IDENTIFIER_LENGTH = 64
Identifier = Annotated[
    str, Field(min_length=1, max_length=MAX_IDENTIFIER_LENGTH, pattern=IDENTIFIER_PATTERN)
]
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def is_identifier(value: object) -> TypeGuard[str]:
    """Whether `value` is a valid customer id or SKU (fullmatch: `$` alone would let a
    trailing newline through)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_IDENTIFIER_LENGTH
        and _IDENTIFIER.fullmatch(value) is not None
    )


def _whole(value: object) -> object:
    """JSON Schema counts 2.0 as an integer, so the API does too; 2.5 stays refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    sku: Identifier
    quantity: Annotated[int, Field(gt=0, le=MAX_QUANTITY), BeforeValidator(_whole)]
    unit_price_cents: Annotated[int, Field(ge=0, le=MAX_UNIT_PRICE_CENTS), BeforeValidator(_whole)]


class OrderIn(BaseModel):
    """The body of `POST /` and `PUT /{id}`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    customer_id: Identifier
    items: Annotated[list[LineItem], Field(min_length=1, max_length=MAX_ITEMS)]

    @property
    def total_cents(self) -> int:
        return sum(item.quantity * item.unit_price_cents for item in self.items)


class OrderOut(BaseModel):
    """An order as the API and every event show it."""

    id: UUID
    customer_id: str
    items: list[LineItem]
    # Bounded as the columns are: an event may carry any number, and one past a column's
    # width must make the order unusable here rather than fail its statement.
    total_cents: Annotated[int, Field(ge=0, le=MAX_BIGINT)]
    status: OrderStatus
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)]
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    shipped_at: datetime | None


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
