import asyncio

import pytest

from shared.deadlines import DeadlineExceeded, Deadlines


async def test_work_past_its_deadline_is_cancelled() -> None:
    deadlines = Deadlines(0.2)
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(DeadlineExceeded):
        await asyncio.wait_for(deadlines.run(slow()), 5)
    assert cancelled.is_set()
    current = asyncio.current_task()
    assert current is not None
    assert current.cancelling() == 0


async def test_work_within_its_deadline_is_left_alone() -> None:
    deadlines = Deadlines(5)

    async def quick() -> str:
        await asyncio.sleep(0.01)
        return "done"

    assert await asyncio.gather(*(deadlines.run(quick()) for _ in range(50))) == ["done"] * 50


async def test_each_task_keeps_its_own_deadline() -> None:
    deadlines = Deadlines(0.3)

    async def sleeper(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    async def guarded(seconds: float) -> float | str:
        try:
            return await deadlines.run(sleeper(seconds))
        except DeadlineExceeded:
            return "late"

    assert list(await asyncio.gather(guarded(0.05), guarded(10), guarded(0.1))) == [
        0.05,
        "late",
        0.1,
    ]


async def test_a_cancellation_from_elsewhere_propagates() -> None:
    deadlines = Deadlines(30)
    task = asyncio.create_task(deadlines.run(asyncio.sleep(30)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_work_that_swallows_the_cancellation_leaves_the_task_uncancelled() -> None:
    deadlines = Deadlines(0.1)

    async def stubborn() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return "finished anyway"
        return "slept"

    assert await deadlines.run(stubborn()) == "finished anyway"
    current = asyncio.current_task()
    assert current is not None
    assert current.cancelling() == 0
    await asyncio.sleep(0.01)  # the task can await again: no cancellation is left pending


async def test_a_cancellation_from_elsewhere_after_the_deadline_still_propagates() -> None:
    deadlines = Deadlines(0.1)
    outside = asyncio.Event()

    async def stuck() -> None:
        while True:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                outside.set()  # swallow ours, wait for the next one
                await asyncio.sleep(30)

    task = asyncio.create_task(deadlines.run(stuck()))
    await asyncio.wait_for(outside.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
