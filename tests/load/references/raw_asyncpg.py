"""Python-limit baseline: Starlette + a raw asyncpg pool, no ORM, minimal validation.

Serves POST / and GET /{id} on the table `baseline_orders`; tests/load/bench.py starts it.
"""
import json
import os
import uuid
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

COLS = "id, customer_id, items, total_cents, status, version, created_at, updated_at"


def as_json(r):
    d = dict(r)
    d["id"] = str(d["id"])
    d["items"] = json.loads(d["items"])
    d["created_at"] = d["created_at"].isoformat()
    d["updated_at"] = d["updated_at"].isoformat()
    return d


@asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncpg.create_pool(os.environ["BASELINE_DSN"], min_size=10, max_size=20)
    yield
    await app.state.pool.close()


async def create(request):
    b = await request.json()
    items = b["items"]
    if not isinstance(b.get("customer_id"), str) or not items:
        return Response(status_code=422)
    total = sum(int(i["quantity"]) * int(i["unit_price_cents"]) for i in items)
    r = await request.app.state.pool.fetchrow(
        f"insert into baseline_orders (id, customer_id, items, total_cents) values ($1,$2,$3,$4) returning {COLS}",
        uuid.uuid4(), b["customer_id"], json.dumps(items), total)
    return JSONResponse(as_json(r), status_code=201)


async def get(request):
    try:
        oid = uuid.UUID(request.path_params["oid"])
    except ValueError:
        return Response(status_code=404)
    r = await request.app.state.pool.fetchrow(f"select {COLS} from baseline_orders where id=$1", oid)
    return JSONResponse(as_json(r)) if r else Response(status_code=404)


app = Starlette(routes=[Route("/", create, methods=["POST"]), Route("/{oid}", get)], lifespan=lifespan)
