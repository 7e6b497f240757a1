"""Step functions as their own processes: what they announce, and how they meet an outage."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from shared.local.postgres import EmbeddedPostgres
from shared.store.migrate import upgrade_to_head
from tests.support import created_event, free_port, order_body, served_function


async def _created_event(dsn: str, order_id: str) -> tuple[dict[str, str], bytes]:
    conn = await asyncpg.connect(dsn)
    try:
        return await created_event(conn, order_id)
    finally:
        await conn.close()


def test_confirm_answers_503_without_its_database_and_recovers(scratch: Path, broker: str) -> None:
    postgres = EmbeddedPostgres(scratch / "data", free_port())
    postgres.start()
    try:
        postgres.create_database("orders")
        upgrade_to_head(postgres.dsn("orders"))
        env = {
            "DATABASE_URL": postgres.dsn("orders"),
            "CONFIRM_DELAY_SECONDS": "0",
            "RETRY_AFTER_SECONDS": "4",
        }
        with (
            served_function("orders_http", env) as http_url,
            served_function("confirm", env) as confirm_url,
        ):
            order_id = httpx.post(f"{http_url}/", json=order_body()).json()["id"]
            headers, body = asyncio.run(_created_event(postgres.dsn("orders"), order_id))
            postgres.stop()
            try:
                answer = httpx.post(f"{confirm_url}/", content=body, headers=headers, timeout=30)
                assert answer.status_code == 503
                assert answer.headers["retry-after"] == "4"
            finally:
                postgres.start()
            assert (
                httpx.post(f"{confirm_url}/", content=body, headers=headers, timeout=30).status_code
                == 200
            )
            assert httpx.get(f"{http_url}/{order_id}").json()["status"] == "CONFIRMED"
    finally:
        if postgres.is_running():
            postgres.stop()


def _forged(headers: dict[str, str], order: dict[str, Any], **attributes: str) -> bytes:
    """The event's real order id and version, with invented contents, an hour old."""
    headers.update({f"ce-{name}": value for name, value in attributes.items()})
    headers["ce-time"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    invented = {
        **order,
        "customer_id": "attacker",
        "items": [{"sku": "FREE", "quantity": 1000000, "unit_price_cents": 0}],
        "total_cents": 0,
    }
    return orjson.dumps(invented)


async def _event_data(dsn: str, order_id: str, event_type: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    data = await conn.fetchval(
        "SELECT data FROM outbox WHERE order_id = $1::uuid AND type = $2", order_id, event_type
    )
    await conn.close()
    loaded: dict[str, Any] = orjson.loads(data)
    return loaded


def test_a_forged_event_moves_the_order_but_announces_only_what_the_row_holds(
    db: asyncpg.Connection, database_url: str, broker: str
) -> None:
    env = {"CONFIRM_DELAY_SECONDS": "0", "SHIP_DELAY_SECONDS": "0"}
    with (
        served_function("orders_http", env) as http_url,
        served_function("confirm", env) as confirm_url,
        served_function("ship", env) as ship_url,
    ):
        order = httpx.post(f"{http_url}/", json=order_body()).json()
        headers, _ = asyncio.run(_created_event(database_url, order["id"]))
        forged = _forged(headers, order)
        assert httpx.post(f"{confirm_url}/", content=forged, headers=headers).status_code == 200
        confirmed = asyncio.run(_event_data(database_url, order["id"], "orders.order.confirmed"))
        shown = httpx.get(f"{http_url}/{order['id']}").json()
        assert confirmed == shown
        assert (shown["customer_id"], shown["total_cents"]) == ("c-1", order["total_cents"])

        ship_headers = {**headers}
        forged = _forged(
            ship_headers,
            {**shown, "items": []},
            type="orders.order.confirmed",
            source="/orders/confirm",
            id=str(uuid.uuid4()),
        )
        assert httpx.post(f"{ship_url}/", content=forged, headers=ship_headers).status_code == 200
        shipped = asyncio.run(_event_data(database_url, order["id"], "orders.order.shipped"))
        shown = httpx.get(f"{http_url}/{order['id']}").json()
        assert shipped == shown
        assert (shown["status"], shown["items"]) == ("SHIPPED", order["items"])
