"""A step function as its own process answers 503 while the database is down, then recovers."""

import asyncio
from pathlib import Path

import asyncpg
import httpx

from shared.local.postgres import EmbeddedPostgres
from shared.migrate import upgrade_to_head
from tests.support import binary_headers, free_port, order_body, served_function


async def _created_event(dsn: str, order_id: str) -> tuple[dict[str, str], bytes]:
    conn = await asyncpg.connect(dsn)
    row = await conn.fetchrow("SELECT * FROM outbox WHERE order_id = $1::uuid", order_id)
    await conn.close()
    attributes = {
        "specversion": "1.0",
        "id": str(row["id"]),
        "source": row["source"],
        "type": row["type"],
        "subject": order_id,
        "time": row["time"].isoformat(),
    }
    return binary_headers(attributes), row["data"]


def test_confirm_answers_503_without_its_database_and_recovers(tmp_path: Path, broker: str) -> None:
    postgres = EmbeddedPostgres(tmp_path / "data", free_port())
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
                == 204
            )
            assert httpx.get(f"{http_url}/{order_id}").json()["status"] == "CONFIRMED"
    finally:
        if postgres.is_running():
            postgres.stop()
