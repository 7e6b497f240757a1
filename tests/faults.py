"""Tools for the fault-injection tests: a steady stream of creates, and the exactly-once audit."""

import asyncio
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

import asyncpg
import httpx

from tests.kafka_support import read_topics
from tests.support import order_body
from tests.system import LocalSystem

STEPS = ("created", "confirmed", "shipped")
# Steps at once, and a 503's Retry-After short, so that a stream catches up soon after a fault.
ZERO = {"CONFIRM_DELAY_SECONDS": "0", "SHIP_DELAY_SECONDS": "0", "RETRY_AFTER_SECONDS": "1"}


def create_order(system: LocalSystem) -> str:
    """One order, created through the system's orders_http; its id."""
    answer = httpx.post(f"{system.url('orders_http')}/", json=order_body(), timeout=30)
    assert answer.status_code == 201, answer.text
    order_id: str = answer.json()["id"]
    return order_id


class CreateStream:
    """Creates orders at a steady rate from a thread, as a careful client would: each create
    has its own Idempotency-Key and is retried, honouring Retry-After, until it gets a 201."""

    def __init__(self, url: Callable[[], str], per_second: float = 10) -> None:
        self.url = url
        self.interval = 1 / per_second
        self.created: list[str] = []
        self.unavailable = 0  # 503 answers, each with Retry-After
        self.refused_connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "CreateStream":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(timeout=180)
        assert not self._thread.is_alive(), "the stream could not finish its last create"
        return self.created

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            self.created.append(self._create_once(f"stream-{n}", str(uuid.uuid4())))
            n += 1
            time.sleep(self.interval)

    def _create_once(self, customer: str, key: str) -> str:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            try:
                answer = httpx.post(
                    f"{self.url()}/",
                    json=order_body(customer),
                    headers={"Idempotency-Key": key},
                    timeout=10,
                )
            except httpx.TransportError:
                self.refused_connections += 1
                time.sleep(0.2)
                continue
            if answer.status_code == 201:
                order_id: str = answer.json()["id"]
                return order_id
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"].isdigit()
            self.unavailable += 1
            time.sleep(min(float(answer.headers["retry-after"]), 1.0))
        raise AssertionError(f"create {key} never succeeded")


async def assert_shipped_exactly_once(
    db: asyncpg.Connection, bootstrap_servers: str, order_ids: list[str]
) -> None:
    """Every order is in the database once, SHIPPED at version 3; the outbox holds one event per
    transition; each topic holds exactly one event (one CloudEvent id) per order."""
    assert len(set(order_ids)) == len(order_ids), "a create was answered twice with two ids"
    ids = [uuid.UUID(i) for i in order_ids]
    rows = await db.fetch("SELECT id, status, version FROM orders WHERE id = ANY($1)", ids)
    assert len(rows) == len(ids)
    assert {(row["status"], row["version"]) for row in rows} == {("SHIPPED", 3)}
    events = await db.fetch("SELECT id, order_id, type FROM outbox WHERE order_id = ANY($1)", ids)
    outbox: dict[tuple[str, str], list[str]] = defaultdict(list)
    for event in events:
        outbox[(str(event["order_id"]), event["type"].rsplit(".", 1)[1])].append(str(event["id"]))
    assert sorted(outbox) == sorted((i, step) for i in order_ids for step in STEPS)
    assert all(len(found) == 1 for found in outbox.values()), "a transition was written twice"

    wanted = set(order_ids)
    on_topics: dict[tuple[str, str], set[str]] = defaultdict(set)
    deadline = time.monotonic() + 30
    while True:
        on_topics.clear()
        for record in await read_topics(bootstrap_servers, tuple(f"orders.{s}" for s in STEPS)):
            if record.key in wanted:
                on_topics[(record.key, record.topic.removeprefix("orders."))].add(
                    record.headers["ce_id"]
                )
        if len(on_topics) == len(outbox) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    # Redelivered records carry the same event id: at-least-once delivery, one event each.
    assert {key: {found[0]} for key, found in outbox.items()} == dict(on_topics)
    print(f"audited {len(order_ids)} orders: each shipped once, one event per transition")
