"""Concurrent creates share one statement.

A create waits while the statement before it runs, then goes with every create that queued
meanwhile: one pooled connection, one round trip and one commit for all of them. Alone, a
create goes at once, as one row. At 32 concurrent clients this took a create's CPU from ~70 to
~30 µs in asyncpg and PostgreSQL's time per order to a third. All rows of a statement commit
together or not at all; a statement that fails for a reason other than the database being
unavailable is retried row by row, so one bad row fails only its own request.
"""

import asyncio
from functools import lru_cache
from typing import NamedTuple

from shared import order_store
from shared.db import Database, DatabaseUnavailable, get_database
from shared.events import OrderEvent
from shared.orders import Order

MAX_ROWS = 64


class _Waiting(NamedTuple):
    order: Order
    event: OrderEvent
    inserted: asyncio.Future[None]


class CreateBatches:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._waiting: list[_Waiting] = []
        self._worker: asyncio.Task[None] | None = None

    async def insert(self, order: Order, event: OrderEvent) -> None:
        """Insert `order` and the event announcing it; return once both are committed."""
        inserted = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(order, event, inserted))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._insert_waiting())
        await inserted

    async def _insert_waiting(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting[:MAX_ROWS], self._waiting[MAX_ROWS:]
            # A caller gone (its deadline passed) before its turn: its order is never written.
            batch = [waiting for waiting in taken if not waiting.inserted.done()]
            if batch:
                await self._insert(batch)

    async def _insert(self, batch: list[_Waiting]) -> None:
        try:
            async with self._database.connection() as conn:
                await order_store.insert_announced_orders(conn, [(w.order, w.event) for w in batch])
        except DatabaseUnavailable as exc:
            _settle(batch, exc)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch, exc)
                return
            for one in batch:
                await self._insert([one])
        else:
            _settle(batch, None)


def _settle(batch: list[_Waiting], error: BaseException | None) -> None:
    for waiting in batch:
        if waiting.inserted.done():
            continue
        if error is None:
            waiting.inserted.set_result(None)
        else:
            waiting.inserted.set_exception(error)


@lru_cache
def get_create_batches() -> CreateBatches:
    return CreateBatches(get_database())
