"""The five CRUD routes. Each state change is one call into the store (one unit of work),
then the publish of the event it wrote."""

import hashlib
import logging
from datetime import UTC, datetime

import orjson
from starlette.requests import Request
from starlette.responses import Response

from functions.orders_http import http_input, order_body
from shared.domain.events import EventType, order_event, valid_traceparent
from shared.domain.orders import OrderNotFound, new_order, to_json
from shared.messaging.publisher import get_publisher
from shared.settings import Settings
from shared.store import order_store
from shared.store.db import Database
from shared.store.idempotency_keys import KeyClaim

JSON = "application/json"
log = logging.getLogger("orders.http")


class OrderResponse(Response):
    """An order's JSON with its ETag (and Location), headers built as bytes directly: Starlette's
    Response encodes a header dict anew for every answer."""

    def __init__(self, body: bytes, version: int, *, created: str | None = None) -> None:
        self.status_code = 201 if created else 200
        self.body = body
        self.background = None
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", JSON.encode()),
            (b"etag", http_input.etag(version).encode()),
        ]
        if created:
            self.raw_headers.append((b"location", f"/{created}".encode()))


def _traceparent(request: Request) -> str | None:
    return valid_traceparent(request.headers.get("traceparent"))


async def create_order(request: Request, db: Database, settings: Settings) -> Response:
    body = await order_body.read_order_in(request, settings.max_body_bytes)
    http_input.require_own_customer(request, body.customer_id)
    key = http_input.idempotency_key(request)
    now = datetime.now(UTC)
    order = new_order(body, now)
    payload = to_json(order)
    event = order_event(EventType.CREATED, order.id, payload, now, _traceparent(request))
    claim = None
    if key is not None:
        request_hash = hashlib.sha256(
            orjson.dumps(body.model_dump(), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        claim = KeyClaim(key, request_hash, 201, payload.decode())
    earlier = await order_store.create_order(db, order, event, claim)
    if earlier is not None:
        first = orjson.loads(earlier.body)
        return OrderResponse(earlier.body.encode(), first["version"], created=first["id"])
    get_publisher().submit(event)
    # ORDER_LOG_LEVEL (DEBUG): a line per order is a tenth of the create path's CPU.
    log.log(
        settings.order_log_levelno,
        "order created: %s",
        order.id,
        extra={"order_id": order.id},
    )
    return OrderResponse(payload, order.version, created=str(order.id))


async def read_order(request: Request, db: Database, settings: Settings) -> Response:
    order_id = http_input.order_id_from_path(request.path_params["order_id"])
    async with db.connection() as conn:
        order = await order_store.get_order(conn, order_id, http_input.caller_customer(request))
    if order is None:
        raise OrderNotFound(order_id)
    return OrderResponse(to_json(order), order.version)


async def list_orders(request: Request, db: Database, settings: Settings) -> Response:
    limit, status, customer_id = http_input.page_query(request, settings.max_page_size)
    customer_id = http_input.require_own_customer(request, customer_id) or customer_id
    after_seq = http_input.decode_cursor(request.query_params.get("cursor"))
    async with db.connection() as conn:
        page, next_seq = await order_store.list_orders(
            conn, after_seq=after_seq, limit=limit, status=status, customer_id=customer_id
        )
    next_cursor = http_input.encode_cursor(next_seq) if next_seq is not None else None
    return Response(to_json({"items": page, "next_cursor": next_cursor}), media_type=JSON)


async def replace_order(request: Request, db: Database, settings: Settings) -> Response:
    order_id = http_input.order_id_from_path(request.path_params["order_id"])
    body = await order_body.read_order_in(request, settings.max_body_bytes)
    customer = http_input.require_own_customer(request, body.customer_id)
    expected = http_input.expected_versions(request)
    order, event = await order_store.replace_order(
        db,
        order_id,
        body,
        expected,
        datetime.now(UTC),
        customer=customer,
        traceparent=_traceparent(request),
    )
    get_publisher().submit(event)
    return OrderResponse(event.data, order.version)


async def delete_order(request: Request, db: Database, settings: Settings) -> Response:
    order_id = http_input.order_id_from_path(request.path_params["order_id"])
    expected = http_input.expected_versions(request)
    _, event = await order_store.delete_order(
        db,
        order_id,
        expected,
        datetime.now(UTC),
        customer=http_input.caller_customer(request),
        traceparent=_traceparent(request),
    )
    get_publisher().submit(event)
    return Response(status_code=204)
