"""Orders and their events get UUIDv7 ids (shared/domain/ids.py); the API takes and gives them
as the UUID strings it always did."""

import uuid

import asyncpg
import httpx

from shared.domain.ids import unix_ms_of
from tests.support import order_body


async def test_orders_and_events_get_time_ordered_ids_the_api_reads_back(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    created = []
    for _ in range(3):
        response = await client.post("/", json=order_body())
        assert response.status_code == 201, response.text
        created.append(response.json())
    ids = [uuid.UUID(order["id"]) for order in created]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids), "later orders sort after earlier ones"
    for order, order_id in zip(created, ids, strict=True):
        assert order["id"] == str(order_id)  # hyphenated, lower case, as before
        assert abs(unix_ms_of(order_id) / 1000 - _epoch(order["created_at"])) < 1
        assert (await client.get(f"/{order['id']}")).json() == order
        assert (await client.get(f"/{order['id'].upper()}")).status_code == 200
        response = await client.get("/", params={"customer_id": "c-1", "limit": 10})
        assert order["id"] in [item["id"] for item in response.json()["items"]]
    events = await db.fetch("SELECT id, order_id FROM outbox ORDER BY seq")
    assert [row["order_id"] for row in events] == ids
    assert all(row["id"].version == 7 for row in events)
    assert [row["id"] for row in events] == sorted(row["id"] for row in events)


async def test_a_version_4_id_is_still_an_order_id(client: httpx.AsyncClient) -> None:
    """Orders made before UUIDv7 keep their ids: any UUID the API wrote is an address."""
    response = await client.get(f"/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["type"].endswith("not-found")


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
