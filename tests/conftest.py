"""A real PostgreSQL for every suite: embedded by default, or `TEST_DATABASE_URL`."""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.db import get_database
from shared.local.postgres import EmbeddedPostgres
from shared.migrate import upgrade_to_head
from shared.serve import function_app
from shared.settings import get_settings
from tests.support import free_port


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database; the process's settings point at it."""
    external = os.environ.get("TEST_DATABASE_URL")
    postgres: EmbeddedPostgres | None = None
    if external:
        url = external
    else:
        postgres = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", free_port())
        postgres.start()
        postgres.create_database("orders_test")
        url = postgres.dsn("orders_test")
    upgrade_to_head(url)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    get_database.cache_clear()
    yield url
    if postgres is not None:
        postgres.stop()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test database, emptied before the test."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("TRUNCATE orders, idempotency_keys, outbox")
    yield conn
    await conn.close()


@pytest.fixture
async def client(db: asyncpg.Connection) -> AsyncIterator[httpx.AsyncClient]:
    """The orders_http function in this process, over ASGI, against the real database."""
    transport = httpx.ASGITransport(app=function_app("orders_http"))
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        yield client


@pytest.fixture(scope="session")
def root() -> Path:
    return Path(__file__).resolve().parent.parent
