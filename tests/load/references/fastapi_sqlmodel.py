"""Peer baseline: the orders API done the plain, common way (FastAPI + SQLModel ORM session + asyncpg).

Serves POST / and GET /{id} on its own table `baseline_orders`; tests/load/bench.py starts it.
"""
import os
import uuid
from datetime import datetime, timezone

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field as PField
from sqlalchemy import Column
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


class Item(BaseModel):
    sku: str
    quantity: int = PField(gt=0)
    unit_price_cents: int = PField(ge=0)


class OrderIn(SQLModel):
    customer_id: str
    items: list[Item]


class Order(SQLModel, table=True):
    __tablename__ = "baseline_orders"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    customer_id: str
    items: list[dict] = Field(sa_column=Column(JSONB, nullable=False))
    total_cents: int
    status: str = "CREATED"
    version: int = 1
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


engine = create_async_engine(os.environ["BASELINE_SQLALCHEMY_URL"], pool_size=20, max_overflow=0)
Session = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
app = FastAPI()


async def session():
    async with Session() as s:
        yield s


@app.post("/", status_code=201)
async def create(body: OrderIn, s: AsyncSession = Depends(session)) -> Order:
    items = [i.model_dump() for i in body.items]
    order = Order(customer_id=body.customer_id, items=items,
                  total_cents=sum(i["quantity"] * i["unit_price_cents"] for i in items))
    s.add(order)
    await s.commit()
    return order


@app.get("/{order_id}")
async def get(order_id: uuid.UUID, s: AsyncSession = Depends(session)) -> Order:
    order = await s.get(Order, order_id)
    if order is None:
        raise HTTPException(404)
    return order
