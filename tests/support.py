"""Helpers the suites share: free ports, a served function in its own process, order bodies."""

import asyncio
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from shared.local.postgres import EmbeddedPostgres
from shared.local.postgres_leftovers import scratch_folder
from shared.store.migrate import upgrade_to_head

ROOT = Path(__file__).resolve().parent.parent


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free right now, below 32768 (Linux hands out the ports from 32768 up to outgoing
    connections), and never one this process handed out before: two servers started on one
    port would each take half the requests, or one would not start and the other answer for it."""
    while True:
        port = 20000 + secrets.randbelow(32768 - 20000)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


def order_body(customer_id: str = "c-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "items": [
            {"sku": "SKU-1", "quantity": 2, "unit_price_cents": 1250},
            {"sku": "SKU-2", "quantity": 1, "unit_price_cents": 99},
        ],
    }
    body.update(overrides)
    return body


def wait_until_answering(
    url: str,
    timeout: float = 30.0,
    verify: ssl.SSLContext | bool = True,
    process: "subprocess.Popen[bytes] | None" = None,
) -> None:
    """Wait until `url` answers; fails at once if `process`, the server meant to answer, ends."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} ended ({process.returncode}) before {url}")
        try:
            httpx.get(url, timeout=1.0, verify=verify)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        if process is None or process.poll() is None:
            return


@contextmanager
def served_function(
    target: str, env: dict[str, str], scheme: str = "http", verify: ssl.SSLContext | bool = True
) -> Iterator[str]:
    """Run `orders serve TARGET` as its own process; yield its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", target],
        env={**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1"},
        cwd=ROOT,
    )
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/healthz", verify=verify, process=process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def orders_dlq(*args: str, broker: str) -> subprocess.CompletedProcess[str]:
    """`orders dlq ARGS` against `broker`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "dlq", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker},
        timeout=60,
        check=False,
    )


def binary_headers(
    attributes: dict[str, str], content_type: str = "application/json"
) -> dict[str, str]:
    """HTTP binary-mode CloudEvent headers, as KafkaSource sends them."""
    return {
        **{f"ce-{name}": value for name, value in attributes.items()},
        "content-type": content_type,
    }


async def created_event(conn: asyncpg.Connection, order_id: str) -> tuple[dict[str, str], bytes]:
    """The HTTP binary-mode headers and body of an order's created event, as its outbox row
    holds it."""
    row = await conn.fetchrow("SELECT * FROM outbox WHERE order_id = $1::uuid", order_id)
    attributes = {
        "specversion": "1.0",
        "id": str(row["id"]),
        "source": row["source"],
        "type": row["type"],
        "subject": order_id,
        "time": row["time"].isoformat(),
    }
    return binary_headers(attributes), row["data"]


async def unpublish(conn: asyncpg.Connection, order_id: str) -> None:
    """Make an order's events look as if their first publish had failed a minute ago, once the
    serving process is done with them: it marked them published, or it gave up and left them to
    the relay (its three attempts, each bounded by the Kafka request timeout, end well within
    the wait below). Otherwise it could mark them after this."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not await conn.fetchval(
        "SELECT bool_and(published_at IS NOT NULL) FROM outbox WHERE order_id = $1::uuid",
        order_id,
    ):
        await asyncio.sleep(0.05)
    await conn.execute(
        "UPDATE outbox SET published_at = NULL, time = now() - interval '1 minute'"
        " WHERE order_id = $1::uuid",
        order_id,
    )


@contextmanager
def migrated_postgres() -> Iterator[EmbeddedPostgres]:
    """A migrated database of the test's own, which the test may stop and start (its data in a
    fresh folder, removed afterwards)."""
    with scratch_folder() as folder:
        postgres = EmbeddedPostgres(folder / "data", free_port())
        postgres.start()
        postgres.create_database("orders")
        upgrade_to_head(postgres.dsn("orders"))
        try:
            yield postgres
        finally:
            if postgres.is_running():
                postgres.stop()


async def add_order_row(conn: asyncpg.Connection, status: str) -> uuid.UUID:
    """An order in `status`, written straight into the table (no event): for tests of what
    the store does with orders in a given status."""
    from shared.domain.ids import uuid7

    order_id = uuid7()
    await conn.execute(
        "INSERT INTO orders (id, customer_id, items, total_cents, status, version, created_at,"
        " updated_at) VALUES ($1, 'c-1', '[]', 0, $2, 1, now(), now())",
        order_id,
        status,
    )
    return order_id
