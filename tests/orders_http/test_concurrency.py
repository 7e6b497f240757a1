"""Writers racing each other, and paging while others insert."""

import asyncio
from typing import Any

import asyncpg
import httpx

from tests.support import order_body


async def test_two_puts_with_the_same_if_match_exactly_one_wins(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for _ in range(10):
        order = (await client.post("/", json=order_body())).json()
        responses = await asyncio.gather(
            *(
                client.put(
                    f"/{order['id']}", json=order_body(f"c-{n}"), headers={"If-Match": '"1"'}
                )
                for n in range(2)
            )
        )
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200, 412]
        winner = next(r for r in responses if r.status_code == 200).json()
        stored = await client.get(f"/{order['id']}")
        assert stored.json() == winner
        assert winner["version"] == 2


async def test_concurrent_posts_with_one_idempotency_key_make_one_order(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    headers = {"Idempotency-Key": "race"}
    responses = await asyncio.gather(
        *(client.post("/", json=order_body(), headers=headers) for _ in range(8))
    )
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_paging_during_inserts_skips_none_and_repeats_none(
    client: httpx.AsyncClient,
) -> None:
    existing = [(await client.post("/", json=order_body())).json()["id"] for _ in range(25)]
    stop = asyncio.Event()

    async def keep_inserting() -> int:
        inserted = 0
        while not stop.is_set():
            assert (await client.post("/", json=order_body("late"))).status_code == 201
            inserted += 1
        return inserted

    inserter = asyncio.create_task(keep_inserting())
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/", params=params)).json()
        seen += [order["id"] for order in page["items"]]
        await asyncio.sleep(0)
        cursor = page["next_cursor"]
        if cursor is None or len(seen) > 200:
            break
    stop.set()
    assert await inserter > 0
    assert len(seen) == len(set(seen)), "an order appeared twice"
    assert set(existing) <= set(seen), "an order that existed when paging began was skipped"
    assert seen[: len(existing)] == existing
