"""The tables, defined once, for Alembic alone: migrations are written from these and checked
against them (`alembic check`). Nothing reads or writes through them at runtime: the store's SQL
(asyncpg, `shared/store/order_store.py`) names their columns, and an order in code is
`shared.domain.orders.Order`, whose fields are the orders table's columns
(`tests/test_migrations.py`)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from shared.domain.lifecycle import STATUS_CHECK


def _timestamp(nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable))


class Order(SQLModel, table=True):
    """The orders table (the order itself, in code, is `shared.domain.orders.Order`)."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_customer_seq", "customer_id", "seq"),
        Index("ix_orders_status_seq", "status", "seq"),
        # Migration 0001 wrote it out as it stood then (`tests/domain/test_lifecycle.py` compares).
        CheckConstraint(STATUS_CHECK, name="ck_orders_status_known"),
    )

    id: UUID = Field(primary_key=True)
    # Insertion order for keyset paging: rows inserted later always sort after a cursor.
    seq: int = Field(
        sa_column=Column(BigInteger, Identity(always=True), nullable=False, unique=True)
    )
    customer_id: str = Field(sa_column=Column(Text, nullable=False))
    items: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    total_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    confirmed_at: datetime | None = _timestamp(nullable=True)
    shipped_at: datetime | None = _timestamp(nullable=True)


class IdempotencyKey(SQLModel, table=True):
    """The first answer to a POST carrying an `Idempotency-Key`, replayed for its retries."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    key: str = Field(sa_column=Column(Text, primary_key=True))
    request_hash: str = Field(sa_column=Column(Text, nullable=False))
    order_id: UUID = Field(nullable=False)
    status_code: int = Field(sa_column=Column(SmallInteger, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _timestamp()


class OutboxEvent(SQLModel, table=True):
    """A CloudEvent written in the same transaction as the change it announces. Partitioned by
    day of its id (`shared/store/outbox_partitions.py`; migration 0004 makes the partitions,
    which Alembic's comparison leaves out)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
        Index("ix_outbox_order", "order_id"),
        # The row-by-row retention delete (of the default partition) finds old events through it.
        Index("ix_outbox_time", "time"),
        {"postgresql_partition_by": "RANGE (id)"},
    )

    id: UUID = Field(primary_key=True)
    # The order events were written in, from one sequence; not unique, for a unique index on a
    # partitioned table must hold the partition key (no statement needs it unique).
    seq: int = Field(
        sa_column=Column(
            BigInteger, nullable=False, server_default=text("nextval('outbox_seq'::regclass)")
        )
    )
    order_id: UUID = Field(nullable=False)
    type: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))
    time: datetime = _timestamp()
    # The JSON bytes exactly as they go on the wire, so publishing copies nothing.
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    traceparent: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    published_at: datetime | None = _timestamp(nullable=True)


metadata = SQLModel.metadata
