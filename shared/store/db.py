"""The connection pool and the unit of work around every state change.

The hot paths talk to PostgreSQL through asyncpg directly (see `shared/store/order_store.py`); the
tables themselves are defined once, in `shared/store/models.py`.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg
import orjson

from shared.deadlines import DeadlineExceeded, Deadlines
from shared.settings import Settings, get_settings


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached right now; the caller should retry later."""

    reason = "database unavailable"


class DatabaseBusy(DatabaseUnavailable):
    """PostgreSQL answers, but every pooled connection stayed in use while this caller waited
    for one: too much work at once, not an outage."""

    reason = "database busy"


# Failures that mean "the database is not there", as opposed to a bug in a statement.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: orjson.dumps(value).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's RESET ALL round trip: no code here sets session
    state (no SET, LISTEN, cursors or advisory locks); an open transaction is still rolled back."""


class Database:
    """A lazily opened asyncpg pool: a process starts without waiting for the database,
    and a database that comes back is picked up by the next request."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._acquiring = Deadlines(settings.db_connect_timeout_seconds)

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                s = self._settings
                self._pool = await asyncpg.create_pool(
                    s.postgres_dsn,
                    min_size=s.db_pool_min_size,
                    max_size=s.db_pool_max_size,
                    timeout=s.db_connect_timeout_seconds,
                    command_timeout=s.db_command_timeout_seconds,
                    init=_init_connection,
                    reset=keep_session,
                )
            return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            pool = await self._get_pool()
            # Not pool.acquire(timeout=...): that costs a task per acquire.
            try:
                conn = await self._acquiring.run(pool.acquire())
            except DeadlineExceeded as exc:
                size = pool.get_max_size()
                if pool.get_idle_size() == 0 and pool.get_size() >= size:
                    raise DatabaseBusy(f"all {size} connections in use, {exc}") from exc
                raise
            try:
                yield conn
            finally:
                await pool.release(conn)
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """The unit of work: everything inside commits together or not at all."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def fetch_value(self, query: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(query, *args)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


@lru_cache
def get_database() -> Database:
    """The process's one pool (each function runs as its own process)."""
    return Database(get_settings())
