"""Publishing after commit, and the relay catching what the first try missed (real broker)."""

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from shared.domain.events import OrderEvent
from shared.domain.ids import uuid7
from shared.domain.lifecycle import IN_FLIGHT
from shared.flows.relay import FORGET_BATCH, sweep
from shared.messaging.publisher import BrokerUnavailable, Publisher, get_publisher
from shared.runtime.auth import owned_key
from shared.settings import Settings, get_settings
from shared.store.db import DatabaseUnavailable, get_database
from shared.store.outbox import OUTBOX_COLUMNS
from tests.kafka_support import read_topics, wait_for_records
from tests.support import free_port, order_body

NO_REDRIVE = dict.fromkeys(IN_FLIGHT, 1e9)
# A random UUID whose first digit is f: it sorts above the ids of every day until the year 10889.
ABOVE_EVERY_DAY = "overlay(gen_random_uuid()::text placing 'f' from 1)::uuid"


def _unreachable_broker() -> Settings:
    return get_settings().model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "kafka_request_timeout_ms": 1000,
        }
    )


async def test_create_is_published_in_binary_mode_and_marked(
    client: httpx.AsyncClient, db: asyncpg.Connection, broker: str
) -> None:
    order = (await client.post("/", json=order_body())).json()
    await get_publisher().flush()
    [record] = await wait_for_records(broker, ("orders.created",), {order["id"]}, 1)
    assert record.key == order["id"]
    assert record.headers["ce_type"] == "orders.order.created"
    assert record.headers["ce_subject"] == order["id"]
    assert record.headers["ce_source"] == "/orders/orders_http"
    assert record.headers["ce_specversion"] == "1.0"
    assert record.headers["content-type"] == "application/json"
    event_id = await db.fetchval(
        "SELECT id FROM outbox WHERE order_id = $1", uuid.UUID(order["id"])
    )
    assert record.headers["ce_id"] == str(event_id)
    assert await db.fetchval("SELECT published_at IS NOT NULL FROM outbox WHERE id = $1", event_id)


async def test_broker_down_leaves_events_to_the_relay(
    client: httpx.AsyncClient, db: asyncpg.Connection, broker: str
) -> None:
    down = Publisher(_unreachable_broker(), get_database())
    orders = []
    for _ in range(3):
        order = (await client.post("/", json=order_body())).json()
        orders.append(order["id"])
    await get_publisher().flush()
    # Simulate a first publish that never happened: the rows are unpublished again.
    await db.execute("UPDATE outbox SET published_at = NULL, time = time - interval '1 minute'")
    before = len([r for r in await read_topics(broker, ("orders.created",)) if r.key in orders])

    with pytest.raises(BrokerUnavailable):
        await sweep(get_settings(), get_database(), down, NO_REDRIVE)
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 3

    report = await sweep(get_settings(), get_database(), get_publisher(), NO_REDRIVE)
    assert report.published == 3
    assert report.backlog == 0
    records = await wait_for_records(broker, ("orders.created",), set(orders), before + 3)
    assert len(records) == before + 3


async def test_submit_with_broker_down_never_fails_the_caller(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    down = Publisher(_unreachable_broker(), get_database())
    order = (await client.post("/", json=order_body())).json()
    await get_publisher().flush()
    await db.execute("UPDATE outbox SET published_at = NULL")
    [event] = await db.fetch("SELECT * FROM outbox WHERE order_id = $1", uuid.UUID(order["id"]))
    down.submit(OrderEvent(**{c: event[c] for c in OUTBOX_COLUMNS}))
    await asyncio.wait_for(down.flush(), timeout=60)
    assert await db.fetchval("SELECT published_at FROM outbox WHERE id = $1", event["id"]) is None


async def test_concurrent_relays_publish_each_event_once(
    client: httpx.AsyncClient, db: asyncpg.Connection, broker: str
) -> None:
    orders = [(await client.post("/", json=order_body())).json()["id"] for _ in range(40)]
    await get_publisher().flush()
    before = len([r for r in await read_topics(broker, ("orders.created",)) if r.key in orders])
    await db.execute("UPDATE outbox SET published_at = NULL, time = time - interval '1 minute'")
    relays = [Publisher(get_settings(), get_database()) for _ in range(3)]
    reports = await asyncio.gather(
        *(sweep(get_settings(), get_database(), relay, NO_REDRIVE) for relay in relays)
    )
    for relay in relays:
        await relay.close()
    assert sum(report.published for report in reports) == 40
    records = await wait_for_records(broker, ("orders.created",), set(orders), before + 40)
    assert len(records) == before + 40


async def test_relay_reports_backlog_and_age_as_metrics(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    from shared.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE

    await client.post("/", json=order_body())
    await get_publisher().flush()
    await db.execute("UPDATE outbox SET published_at = NULL, time = now() - interval '30 seconds'")
    down = Publisher(_unreachable_broker(), get_database())
    with pytest.raises(BrokerUnavailable):
        await sweep(get_settings(), get_database(), down, NO_REDRIVE)
    report = await sweep(get_settings(), get_database(), get_publisher(), NO_REDRIVE)
    assert report.backlog == 0
    assert OUTBOX_BACKLOG._value.get() == 0
    await db.execute("UPDATE outbox SET published_at = NULL, time = now() - interval '30 seconds'")
    await sweep(
        get_settings().model_copy(update={"relay_min_age_seconds": 3600}),
        get_database(),
        get_publisher(),
        NO_REDRIVE,
    )
    assert OUTBOX_BACKLOG._value.get() == 1
    assert OUTBOX_OLDEST_AGE._value.get() >= 30


async def test_relay_forgets_expired_idempotency_keys(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for key in ("old", "fresh"):
        assert (
            await client.post("/", json=order_body(), headers={"Idempotency-Key": key})
        ).status_code == 201
    await db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = $1",
        owned_key(None, "old"),
    )
    await sweep(get_settings(), get_database(), get_publisher(), NO_REDRIVE)
    kept = [row["key"] for row in await db.fetch("SELECT key FROM idempotency_keys")]
    assert kept == [owned_key(None, "fresh")]
    again = await client.post("/", json=order_body(), headers={"Idempotency-Key": "old"})
    assert again.status_code == 201
    assert await db.fetchval("SELECT count(*) FROM orders") == 3, "an expired key makes a new order"


async def test_relay_forgets_published_events_past_retention_except_in_flight_orders(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    ids = [uuid.UUID((await client.post("/", json=order_body())).json()["id"]) for _ in range(4)]
    await get_publisher().flush()
    in_flight, _shipped_long_ago, recent, unpublished = ids
    await db.execute("UPDATE orders SET status = 'SHIPPED' WHERE id <> $1", in_flight)
    # Row by row, the relay deletes in the default partition only (the day partitions go whole,
    # tests/store/test_outbox_upkeep.py): the ids no day covers, here UUIDv4 above every day.
    await db.execute(f"UPDATE outbox SET id = {ABOVE_EVERY_DAY}")
    await db.execute(
        "UPDATE outbox SET time = now() - interval '8 days', published_at = CASE WHEN"
        " order_id = $1 THEN NULL ELSE now() - interval '8 days' END WHERE order_id <> $2",
        unpublished,
        recent,
    )
    # Events of orders deleted since, more than one statement deletes.
    await db.execute(
        "INSERT INTO outbox (id, order_id, type, source, time, data, published_at)"
        f" SELECT {ABOVE_EVERY_DAY}, gen_random_uuid(), 'orders.order.deleted', '/x',"
        " now() - interval '8 days', '\\x7b7d', now() - interval '8 days'"
        " FROM generate_series(1, $1)",
        FORGET_BATCH + 10,
    )
    # An event of today's partition, as old: the day it belongs to is not past the retention.
    await db.execute(
        "INSERT INTO outbox (id, order_id, type, source, time, data, published_at)"
        " VALUES ($1, $2, 'orders.order.shipped', '/x', now() - interval '8 days', '\\x7b7d',"
        " now() - interval '8 days')",
        uuid7(),
        recent,
    )
    assert await db.fetchval("SELECT count(*) FROM outbox_default") == FORGET_BATCH + 14
    # A relay that leaves the unpublished event alone (it is not old enough to send).
    settings = get_settings().model_copy(update={"relay_min_age_seconds": 1e9})
    report = await sweep(settings, get_database(), get_publisher(), NO_REDRIVE)
    assert report.forgotten == FORGET_BATCH + 11
    kept = await db.fetch("SELECT DISTINCT order_id FROM outbox")
    assert {row["order_id"] for row in kept} == {in_flight, recent, unpublished}
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE order_id = $1", recent) == 2


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.CheckViolationError("updated partition constraint would be violated"),
        # A statement past the pool's command timeout (an ATTACH reading a large default).
        DatabaseUnavailable("the statement timed out"),
    ],
    ids=["database-error", "timeout"],
)
async def test_a_failed_partition_upkeep_leaves_the_rest_of_the_sweep_done(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    from shared.metrics import OUTBOX_BACKLOG, OUTBOX_UPKEEP_POSTPONED
    from shared.store import outbox_upkeep

    async def fails(*_: object) -> outbox_upkeep.Upkeep:
        raise failure

    monkeypatch.setattr(outbox_upkeep, "upkeep", fails)
    response = await client.post("/", json=order_body(), headers={"Idempotency-Key": "old"})
    await get_publisher().flush()
    order_id = uuid.UUID(response.json()["id"])
    await db.execute("UPDATE orders SET status = 'SHIPPED' WHERE id = $1", order_id)
    await db.execute(
        f"UPDATE outbox SET id = {ABOVE_EVERY_DAY}, time = now() - interval '8 days',"
        " published_at = now() - interval '8 days'"
    )
    await db.execute("UPDATE idempotency_keys SET created_at = now() - interval '2 days'")
    OUTBOX_BACKLOG.set(-1)
    errors = OUTBOX_UPKEEP_POSTPONED.labels("error")
    before = errors._value.get()
    report = await sweep(get_settings(), get_database(), get_publisher(), NO_REDRIVE)
    assert (report.dropped, report.forgotten, report.backlog) == (0, 1, 0)
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    assert OUTBOX_BACKLOG._value.get() == 0
    assert errors._value.get() == before + 1
