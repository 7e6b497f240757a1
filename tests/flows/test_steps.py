"""confirm and ship as CloudEvent functions (in-process ASGI) against the real database."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from shared.domain.events import OrderEvent
from shared.flows.steps import CONFIRM, wait_out_delay
from shared.runtime.serve import function_app
from shared.settings import get_settings
from shared.store.outbox import OUTBOX_COLUMNS
from tests.support import binary_headers, order_body


@pytest.fixture
def no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "confirm_delay_seconds", 0.0)
    monkeypatch.setattr(get_settings(), "ship_delay_seconds", 0.0)


@pytest.fixture
async def confirm(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=function_app("confirm"))
    async with httpx.AsyncClient(transport=transport, base_url="http://confirm") as c:
        yield c


@pytest.fixture
async def ship(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=function_app("ship"))
    async with httpx.AsyncClient(transport=transport, base_url="http://ship") as c:
        yield c


async def _latest_event(db: asyncpg.Connection, order_id: str, event_type: str) -> OrderEvent:
    row = await db.fetchrow(
        "SELECT * FROM outbox WHERE order_id = $1 AND type = $2 ORDER BY seq DESC LIMIT 1",
        uuid.UUID(order_id),
        event_type,
    )
    assert row is not None, f"no {event_type} for {order_id}"
    return OrderEvent(**{column: row[column] for column in OUTBOX_COLUMNS})


async def _post(function: httpx.AsyncClient, event: OrderEvent, **changes: Any) -> httpx.Response:
    attributes = {**event.attributes(), **changes}
    return await function.post("/", content=event.data, headers=binary_headers(attributes))


async def _created_order(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> tuple[dict[str, Any], OrderEvent]:
    order = (await client.post("/", json=order_body())).json()
    return order, await _latest_event(db, order["id"], "orders.order.created")


async def _types(db: asyncpg.Connection, order_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT type FROM outbox WHERE order_id = $1 ORDER BY seq", uuid.UUID(order_id)
    )
    return [row["type"] for row in rows]


@pytest.mark.usefixtures("no_delay")
async def test_confirm_then_ship(
    client: httpx.AsyncClient,
    confirm: httpx.AsyncClient,
    ship: httpx.AsyncClient,
    db: asyncpg.Connection,
) -> None:
    order, created = await _created_order(client, db)
    assert (await _post(confirm, created)).status_code == 200
    confirmed_order = (await client.get(f"/{order['id']}")).json()
    assert confirmed_order["status"] == "CONFIRMED"
    assert confirmed_order["version"] == 2
    assert confirmed_order["confirmed_at"] is not None
    confirmed = await _latest_event(db, order["id"], "orders.order.confirmed")
    assert confirmed.source == "/orders/confirm"
    assert orjson.loads(confirmed.data) == confirmed_order

    assert (await _post(ship, confirmed)).status_code == 200
    shipped_order = (await client.get(f"/{order['id']}")).json()
    assert shipped_order["status"] == "SHIPPED"
    assert shipped_order["version"] == 3
    shipped = await _latest_event(db, order["id"], "orders.order.shipped")
    assert orjson.loads(shipped.data) == shipped_order
    assert await _types(db, order["id"]) == [
        "orders.order.created",
        "orders.order.confirmed",
        "orders.order.shipped",
    ]


@pytest.mark.usefixtures("no_delay")
@pytest.mark.parametrize("order_log_level", ["INFO", "DEBUG"])
async def test_each_step_of_an_order_logs_a_line_at_the_order_log_level(
    client: httpx.AsyncClient,
    confirm: httpx.AsyncClient,
    ship: httpx.AsyncClient,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    order_log_level: str,
) -> None:
    """`orders dev` sets ORDER_LOG_LEVEL=INFO: a line per step at the default log level."""
    monkeypatch.setattr(get_settings(), "order_log_level", order_log_level)
    caplog.set_level(logging.INFO)
    order, created = await _created_order(client, db)
    assert (await _post(confirm, created)).status_code == 200
    confirmed = await _latest_event(db, order["id"], "orders.order.confirmed")
    assert (await _post(ship, confirmed)).status_code == 200
    lines = [
        r.getMessage() for r in caplog.records if str(getattr(r, "order_id", None)) == order["id"]
    ]
    steps = [f"order {step}: {order['id']}" for step in ("created", "confirmed", "shipped")]
    assert lines == (steps if order_log_level == "INFO" else [])


@pytest.mark.usefixtures("no_delay")
async def test_the_same_event_three_times_moves_the_order_once(
    client: httpx.AsyncClient, confirm: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    order, created = await _created_order(client, db)
    for _ in range(3):
        assert (await _post(confirm, created)).status_code == 200
    assert (await client.get(f"/{order['id']}")).json()["version"] == 2
    assert await _types(db, order["id"]) == ["orders.order.created", "orders.order.confirmed"]


@pytest.mark.usefixtures("no_delay")
async def test_racing_deliveries_move_the_order_once(
    client: httpx.AsyncClient, confirm: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    order, created = await _created_order(client, db)
    answers = await asyncio.gather(*(_post(confirm, created) for _ in range(8)))
    assert {answer.status_code for answer in answers} == {200}
    assert await _types(db, order["id"]) == ["orders.order.created", "orders.order.confirmed"]


@pytest.mark.usefixtures("no_delay")
async def test_event_for_a_deleted_order_is_acknowledged_and_dropped(
    client: httpx.AsyncClient, confirm: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    order, created = await _created_order(client, db)
    assert (await client.delete(f"/{order['id']}")).status_code == 204
    assert (await _post(confirm, created)).status_code == 200
    assert await _types(db, order["id"]) == ["orders.order.created", "orders.order.deleted"]


@pytest.mark.usefixtures("no_delay")
async def test_an_event_for_an_order_already_past_is_a_duplicate(
    client: httpx.AsyncClient, confirm: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    order, created = await _created_order(client, db)
    await db.execute("UPDATE orders SET status = 'SHIPPED' WHERE id = $1", uuid.UUID(order["id"]))
    assert (await _post(confirm, created)).status_code == 200
    assert await _types(db, order["id"]) == ["orders.order.created"]


BAD_ATTRIBUTES: list[tuple[str, dict[str, str]]] = [
    ("foreign type", {"type": "orders.order.shipped"}),
    ("unknown type", {"type": "com.example.thing"}),
    ("foreign source", {"source": "/somewhere/else"}),
    ("subject not a uuid", {"subject": "order-7"}),
    ("time not a time", {"time": "yesterday"}),
    ("time without offset", {"time": "2026-11-27T10:00:00"}),
]


@pytest.mark.parametrize(
    "changes", [c for _, c in BAD_ATTRIBUTES], ids=[n for n, _ in BAD_ATTRIBUTES]
)
@pytest.mark.usefixtures("no_delay")
async def test_malformed_or_foreign_events_are_400_and_change_nothing(
    client: httpx.AsyncClient,
    confirm: httpx.AsyncClient,
    db: asyncpg.Connection,
    changes: dict[str, str],
) -> None:
    order, created = await _created_order(client, db)
    answer = await _post(confirm, created, **changes)
    assert answer.status_code == 400, answer.text
    assert (await client.get(f"/{order['id']}")).json()["status"] == "CREATED"


@pytest.mark.usefixtures("no_delay")
async def test_bad_payloads_are_400(
    client: httpx.AsyncClient, confirm: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    order, created = await _created_order(client, db)
    headers = binary_headers(created.attributes())
    for body in (created.data[:20], b"", b"[]", b'{"id": "someone-else"}', b"\xff\xfe"):
        answer = await confirm.post("/", content=body, headers=headers)
        assert answer.status_code == 400, (body, answer.text)
    missing = {k: v for k, v in headers.items() if k != "ce-specversion"}
    assert (await confirm.post("/", content=created.data, headers=missing)).status_code == 400
    assert (await client.get(f"/{order['id']}")).json()["status"] == "CREATED"


@pytest.mark.usefixtures("no_delay")
@pytest.mark.parametrize("dataschema", [None, "urn:orders:schema:order:2"])
async def test_a_step_takes_an_event_whatever_its_dataschema(
    client: httpx.AsyncClient,
    confirm: httpx.AsyncClient,
    db: asyncpg.Connection,
    dataschema: str | None,
) -> None:
    """A step reads the event's subject, time and the data's id, and moves the row: events
    made before `dataschema` existed (still on the topics, or dead letters sent again) and of
    a later version are taken alike."""
    order, created = await _created_order(client, db)
    attributes = {k: v for k, v in created.attributes().items() if k != "dataschema"}
    if dataschema is not None:
        attributes["dataschema"] = dataschema
    answer = await confirm.post("/", content=created.data, headers=binary_headers(attributes))
    assert answer.status_code == 200, answer.text
    assert (await client.get(f"/{order['id']}")).json()["status"] == "CONFIRMED"


@pytest.mark.usefixtures("no_delay")
async def test_structured_mode_is_accepted(
    client: httpx.AsyncClient, confirm: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    order, created = await _created_order(client, db)
    envelope = {
        **created.attributes(),
        "datacontenttype": "application/json",
        "data": orjson.loads(created.data),
    }
    answer = await confirm.post(
        "/",
        content=orjson.dumps(envelope),
        headers={"content-type": "application/cloudevents+json"},
    )
    assert answer.status_code == 200, answer.text
    assert (await client.get(f"/{order['id']}")).json()["status"] == "CONFIRMED"


async def test_confirm_waits_until_event_time_plus_delay(
    client: httpx.AsyncClient,
    confirm: httpx.AsyncClient,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "confirm_delay_seconds", 0.5)
    order, created = await _created_order(client, db)
    assert (await _post(confirm, created)).status_code == 200
    confirmed_at = datetime.fromisoformat(
        (await client.get(f"/{order['id']}")).json()["confirmed_at"]
    )
    assert confirmed_at >= created.time + timedelta(seconds=0.5)


async def test_a_redelivery_does_not_wait_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", record_sleep)
    settings = get_settings().model_copy(update={"confirm_delay_seconds": 10.0})
    now = datetime.now(UTC)
    await wait_out_delay(CONFIRM, now - timedelta(seconds=30), settings)
    assert slept == []
    await wait_out_delay(CONFIRM, now - timedelta(seconds=4), settings)
    assert len(slept) == 1
    assert 5.0 < slept[0] <= 6.0
    await wait_out_delay(CONFIRM, now + timedelta(hours=1), settings)
    assert slept[-1] == 10.0, (
        "a clock-skewed event time never makes a step wait longer than its delay"
    )


@pytest.mark.usefixtures("no_delay")
async def test_metrics_count_events_by_type_and_outcome(
    client: httpx.AsyncClient, confirm: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    def handled(text: str, outcome: str) -> float:
        prefix = f'orders_events_handled_total{{outcome="{outcome}",type="orders.order.created"}} '
        return next(
            (
                float(line.removeprefix(prefix))
                for line in text.splitlines()
                if line.startswith(prefix)
            ),
            0.0,
        )

    before = (await confirm.get("/metrics")).text
    _, created = await _created_order(client, db)
    await _post(confirm, created)
    await _post(confirm, created)
    after = (await confirm.get("/metrics")).text
    assert handled(after, "applied") == handled(before, "applied") + 1
    assert handled(after, "duplicate") == handled(before, "duplicate") + 1
    assert 'orders_http_requests_total{method="POST",route="/",status="200"}' in after
    assert "orders_event_handling_seconds_bucket" in after


async def test_ops_routes_answer_on_a_cloudevent_function(confirm: httpx.AsyncClient) -> None:
    assert (await confirm.get("/healthz")).json() == {"status": "ok"}
    assert (await confirm.get("/readyz")).status_code == 200
    assert (await confirm.get("/metrics")).headers["content-type"].startswith("text/plain")


@pytest.mark.usefixtures("no_delay")
async def test_the_announced_order_is_the_order_as_the_api_shows_it(
    client: httpx.AsyncClient, confirm: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    order, created = await _created_order(client, db)
    assert (await _post(confirm, created)).status_code == 200
    confirmed = await _latest_event(db, order["id"], "orders.order.confirmed")
    shown = (await client.get(f"/{order['id']}")).json()
    assert orjson.loads(confirmed.data) == shown
    assert shown["version"] == 2
    assert shown["status"] == "CONFIRMED"


@pytest.mark.usefixtures("no_delay")
async def test_an_order_edited_after_its_event_is_confirmed_as_edited(
    client: httpx.AsyncClient, confirm: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    order, created = await _created_order(client, db)
    edited = order_body(items=[{"sku": "EDITED", "quantity": 3, "unit_price_cents": 7}])
    assert (await client.put(f"/{order['id']}", json=edited)).status_code == 200
    assert (await _post(confirm, created)).status_code == 200  # the event still shows version 1
    confirmed = orjson.loads((await _latest_event(db, order["id"], "orders.order.confirmed")).data)
    assert confirmed == (await client.get(f"/{order['id']}")).json()
    assert (confirmed["version"], confirmed["items"][0]["sku"]) == (3, "EDITED")
    assert await _types(db, order["id"]) == [
        "orders.order.created",
        "orders.order.updated",
        "orders.order.confirmed",
    ]
