"""The HTTP function as its own process, against a PostgreSQL this test stops and starts."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.local.postgres import EmbeddedPostgres
from shared.store.migrate import upgrade_to_head
from tests.support import free_port, migrated_postgres, order_body, served_function


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[EmbeddedPostgres]:
    with migrated_postgres() as postgres:
        yield postgres


def test_served_process_answers_crud_and_health(own_postgres: EmbeddedPostgres) -> None:
    with served_function("orders_http", {"DATABASE_URL": own_postgres.dsn("orders")}) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{url}/readyz").status_code == 200
        created = httpx.post(f"{url}/", json=order_body())
        assert created.status_code == 201
        assert httpx.get(f"{url}{created.headers['location']}").json() == created.json()
        metrics = httpx.get(f"{url}/metrics").text
        assert 'orders_http_requests_total{method="POST",route="/",status="201"} 1.0' in metrics


def test_database_down_answers_503_then_recovers(own_postgres: EmbeddedPostgres) -> None:
    env = {"DATABASE_URL": own_postgres.dsn("orders"), "RETRY_AFTER_SECONDS": "3"}
    with served_function("orders_http", env) as url:
        order = httpx.post(f"{url}/", json=order_body()).json()
        own_postgres.stop()
        try:
            for method, path in [("GET", f"/{order['id']}"), ("POST", "/"), ("GET", "/")]:
                response = httpx.request(method, f"{url}{path}", json=order_body(), timeout=15)
                assert response.status_code == 503, (method, path, response.text)
                assert response.headers["retry-after"] == "3"
                assert response.headers["content-type"] == "application/problem+json"
            not_ready = httpx.get(f"{url}/readyz", timeout=15)
            assert not_ready.status_code == 503
            assert httpx.get(f"{url}/healthz").status_code == 200
        finally:
            own_postgres.start()
        assert httpx.get(f"{url}/readyz", timeout=15).status_code == 200
        assert httpx.get(f"{url}/{order['id']}", timeout=15).json() == order
        assert httpx.post(f"{url}/", json=order_body(), timeout=15).status_code == 201


def test_database_down_at_start_then_up(scratch: Path) -> None:
    postgres = EmbeddedPostgres(scratch / "data", free_port())
    postgres.start()
    postgres.create_database("orders")
    upgrade_to_head(postgres.dsn("orders"))
    postgres.stop()
    try:
        with served_function("orders_http", {"DATABASE_URL": postgres.dsn("orders")}) as url:
            assert httpx.post(f"{url}/", json=order_body(), timeout=15).status_code == 503
            postgres.start()
            assert httpx.post(f"{url}/", json=order_body(), timeout=15).status_code == 201
    finally:
        if postgres.is_running():
            postgres.stop()
