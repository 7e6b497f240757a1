"""Fixtures of the store's tests."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.store.migrate import upgrade_to_head


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def scratch_database(database_url: str) -> AsyncIterator[str]:
    """A database of the test's own on the test server, migrated to the code's head; other
    tests never see the next schema."""
    name = f"orders_next_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(database_url, name)
    try:
        await asyncio.to_thread(upgrade_to_head, url)  # alembic runs a loop of its own
        yield url
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
