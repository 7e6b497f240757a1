"""A deadline for a piece of work: `asyncio.timeout`, its expiry told apart from a
`TimeoutError` the work raises itself."""

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The awaited work ran past its deadline and was cancelled."""


class Deadlines:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def run(self, work: Awaitable[T]) -> T:
        """Await `work` in the current task; raise DeadlineExceeded when it takes too long."""
        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                return await work
        except TimeoutError:
            if deadline.expired():
                raise DeadlineExceeded(f"still waiting after {self.seconds:g} s") from None
            raise
