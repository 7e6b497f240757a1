"""A deadline for every request in flight, enforced by one sweeping task.

`asyncio.timeout` arms and cancels a timer per request: 8 µs of every request under uvloop,
a tenth of a GET. Here a request costs a dict entry; one task wakes a few times a second while
requests are in flight and cancels those past their deadline, so a deadline fires up to a
quarter of its length (at most 1 s) late.
"""

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The awaited work ran past its deadline and was cancelled."""


class Deadlines:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._period = min(1.0, seconds / 4)
        self._running: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def run(self, work: Awaitable[T]) -> T:
        """Await `work` in the current task; raise DeadlineExceeded when it takes too long."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadlines.run needs a task")
        loop = asyncio.get_running_loop()
        self._running[task] = loop.time() + self.seconds
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep())
        cancelling = task.cancelling()
        try:
            return await work
        except asyncio.CancelledError:
            if task in self._expired:
                self._expired.discard(task)
                # Ours alone (as in asyncio.timeout): another cancellation still propagates.
                if task.uncancel() <= cancelling:
                    raise DeadlineExceeded(f"still waiting after {self.seconds:g} s") from None
            raise
        finally:
            del self._running[task]
            if task in self._expired:  # work that swallowed our cancellation
                self._expired.discard(task)
                task.uncancel()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while self._running:
            await asyncio.sleep(self._period)
            now = loop.time()
            for task, deadline in list(self._running.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()
        self._sweeper = None
