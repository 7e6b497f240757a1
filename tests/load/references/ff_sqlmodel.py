"""Framework baseline: the orders API as a user would write it as a functions-framework function
(an SQLModel ORM session per request, asyncpg underneath), served as the framework documents:

    functions-framework --asgi --target orders --source tests/load/references/ff_sqlmodel.py

Serves POST / and GET /{id} on the table `baseline_orders`, as fastapi_sqlmodel.py does;
tests/load/bench.py starts it.
"""
import os
import uuid
from datetime import datetime, timezone

import functions_framework.aio
from pydantic import BaseModel, Field as PField, ValidationError
from sqlalchemy import Column
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


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


@functions_framework.aio.http
async def orders(request: Request):
    path = request.url.path.strip("/")
    if request.method == "POST" and not path:
        try:
            body = OrderIn.model_validate_json(await request.body())
        except ValidationError as exc:
            return Response(exc.json(), status_code=422, media_type="application/json")
        items = [i.model_dump() for i in body.items]
        order = Order(customer_id=body.customer_id, items=items,
                      total_cents=sum(i["quantity"] * i["unit_price_cents"] for i in items))
        async with Session() as s:
            s.add(order)
            await s.commit()
        return JSONResponse(order.model_dump(mode="json"), status_code=201)
    if request.method == "GET" and path:
        try:
            order_id = uuid.UUID(path)
        except ValueError:
            return Response(status_code=404)
        async with Session() as s:
            order = await s.get(Order, order_id)
        if order is None:
            return Response(status_code=404)
        return JSONResponse(order.model_dump(mode="json"))
    return Response(status_code=405)
