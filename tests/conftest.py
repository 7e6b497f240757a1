"""A real PostgreSQL and a real Kafka-protocol broker for every suite: embedded by default,
or `TEST_DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS`."""

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.domain.events import ALL_TOPICS
from shared.local.broker import EmbeddedBroker
from shared.local.postgres import EmbeddedPostgres
from shared.local.postgres_leftovers import scratch_folder
from shared.messaging.kafka import ensure_topics
from shared.messaging.publisher import get_publisher
from shared.runtime.serve import function_app
from shared.settings import get_settings
from shared.store.db import get_database
from shared.store.migrate import upgrade_to_head
from tests.support import free_port


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated database; the process's settings point at it."""
    external = os.environ.get("TEST_DATABASE_URL")
    postgres: EmbeddedPostgres | None = None
    scratch = ExitStack()
    if external:
        url = external
    else:
        # Data in a fresh folder the database's user owns (see shared/local/postgres_install.py).
        folder = scratch.enter_context(scratch_folder())
        postgres = EmbeddedPostgres(folder / "data", free_port())
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
    scratch.close()


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A fresh folder for an embedded PostgreSQL's data, owned by the user it runs as (tmp_path
    may lie where that user cannot reach); removed after the test, servers left in it stopped."""
    with scratch_folder() as folder:
        yield folder


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """A Kafka-protocol broker with the topics: embedded tansu, or `KAFKA_BOOTSTRAP_SERVERS`."""
    embedded: EmbeddedBroker | None = None
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        embedded = EmbeddedBroker(free_port())
        embedded.start()
        servers = embedded.bootstrap_servers
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = servers
    get_settings.cache_clear()
    get_publisher.cache_clear()
    asyncio.run(ensure_topics(get_settings(), ALL_TOPICS, partitions=3))
    yield servers
    if embedded is not None:
        embedded.stop()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test database, emptied before the test."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("TRUNCATE orders, idempotency_keys, outbox")
    yield conn
    await conn.close()


@pytest.fixture
async def client(db: asyncpg.Connection, broker: str) -> AsyncIterator[httpx.AsyncClient]:
    """The orders_http function in this process, over ASGI, against the real database."""
    transport = httpx.ASGITransport(app=function_app("orders_http"))
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        yield client


@pytest.fixture(scope="session")
def root() -> Path:
    return Path(__file__).resolve().parent.parent
