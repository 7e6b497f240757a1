"""Each function served the documented way, `functions-framework --target NAME --source
functions/NAME/main.py` (no --asgi: the @functions_framework.aio decorators choose it), against
the real database and broker, with SDK-made events in both content modes."""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from tests.support import free_port, order_body, unpublish

ROOT = Path(__file__).resolve().parent.parent
COMMAND = Path(sys.executable).parent / "functions-framework"
Encoder = Callable[[CloudEvent], tuple[dict[str, str], Any]]
MODES = pytest.mark.parametrize("encode", [to_binary, to_structured], ids=["binary", "structured"])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"functions-framework exited with {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="module")
def plain(database_url: str, broker: str) -> Iterator[dict[str, str]]:
    """The four functions, each under the plain functions-framework command."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "CONFIRM_DELAY_SECONDS": "0",
        "SHIP_DELAY_SECONDS": "0",
    }
    processes: list[subprocess.Popen[bytes]] = []
    urls: dict[str, str] = {}
    try:
        for target in ("orders_http", "confirm", "ship", "outbox_relay"):
            port = free_port()
            command = [str(COMMAND), "--target", target, "--source"]
            command += [f"functions/{target}/main.py", "--host", "127.0.0.1", "--port", str(port)]
            process = subprocess.Popen(command, cwd=ROOT, env=env)
            processes.append(process)
            _wait_for_port(port, process)
            urls[target] = f"http://127.0.0.1:{port}"
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _event_of(db: asyncpg.Connection, order_id: str, event_type: str) -> CloudEvent:
    """The outbox row of an order's event, as an SDK event."""
    row = await db.fetchrow(
        "SELECT * FROM outbox WHERE order_id = $1::uuid AND type = $2", order_id, event_type
    )
    assert row is not None, f"no {event_type} for {order_id}"
    attributes = {
        "id": str(row["id"]),
        "source": row["source"],
        "type": row["type"],
        "subject": order_id,
        "time": row["time"].isoformat(),
    }
    return CloudEvent(attributes, orjson.loads(row["data"]))


def _post(url: str, event: CloudEvent, encode: Encoder) -> httpx.Response:
    headers, body = encode(event)
    return httpx.post(f"{url}/", headers=headers, content=body, timeout=30)


def test_orders_http_answers_its_crud(plain: dict[str, str]) -> None:
    url = plain["orders_http"]
    created = httpx.post(f"{url}/", json=order_body("plain-crud"))
    assert created.status_code == 201, created.text
    order = created.json()
    assert httpx.get(f"{url}/{order['id']}").json() == order
    listed = httpx.get(f"{url}/", params={"customer_id": "plain-crud"}).json()
    assert [item["id"] for item in listed["items"]] == [order["id"]]
    bad = httpx.post(f"{url}/", json={"customer_id": "plain-crud", "items": []})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert httpx.delete(f"{url}/{order['id']}").status_code == 204
    assert httpx.get(f"{url}/{order['id']}").status_code == 404


@MODES
async def test_confirm_and_ship_move_an_order_on_sdk_made_events(
    plain: dict[str, str], db: asyncpg.Connection, encode: Encoder
) -> None:
    order_id = httpx.post(f"{plain['orders_http']}/", json=order_body()).json()["id"]
    created = await _event_of(db, order_id, "orders.order.created")
    assert _post(plain["confirm"], created, encode).status_code == 200
    confirmed = await _event_of(db, order_id, "orders.order.confirmed")
    assert _post(plain["ship"], confirmed, encode).status_code == 200
    order = httpx.get(f"{plain['orders_http']}/{order_id}").json()
    assert order["status"] == "SHIPPED"
    # A redelivery changes nothing and is still taken.
    assert _post(plain["confirm"], created, encode).status_code == 200
    assert httpx.get(f"{plain['orders_http']}/{order_id}").json() == order


@MODES
async def test_steps_refuse_an_event_they_do_not_take_with_400(
    plain: dict[str, str], db: asyncpg.Connection, encode: Encoder
) -> None:
    order_id = httpx.post(f"{plain['orders_http']}/", json=order_body()).json()["id"]
    created = await _event_of(db, order_id, "orders.order.created")
    assert _post(plain["ship"], created, encode).status_code == 400
    not_an_event = httpx.post(f"{plain['confirm']}/", json={"id": order_id})
    assert not_an_event.status_code == 400
    assert httpx.get(f"{plain['orders_http']}/{order_id}").json()["status"] == "CREATED"


def test_the_plain_command_has_no_ops_routes(plain: dict[str, str]) -> None:
    # What the README says this path lacks: the probes belong to `orders serve`.
    assert httpx.get(f"{plain['confirm']}/healthz").status_code == 405
    assert httpx.get(f"{plain['orders_http']}/readyz").status_code == 404


@MODES
async def test_outbox_relay_publishes_what_missed_its_first_publish(
    plain: dict[str, str], db: asyncpg.Connection, encode: Encoder
) -> None:
    order_id = httpx.post(f"{plain['orders_http']}/", json=order_body()).json()["id"]
    await unpublish(db, order_id)
    ping = CloudEvent(
        {
            "id": str(uuid.uuid4()),
            "type": "dev.knative.sources.ping",
            "source": "/apis/v1/namespaces/orders/pingsources/outbox-relay-tick",
        },
        {"reason": "outbox sweep"},
    )
    assert _post(plain["outbox_relay"], ping, encode).status_code == 200
    published = await db.fetchval(
        "SELECT published_at IS NOT NULL FROM outbox WHERE order_id = $1::uuid", order_id
    )
    assert published
