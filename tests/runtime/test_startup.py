"""`orders serve` loads its modules without garbage collection and without pydantic's plugin
search, and collects again (start-up's objects frozen) once the app's lifespan starts."""

import gc
import os
import subprocess
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest

from shared.runtime import startup
from shared.runtime.function_guard import FunctionGuard, Limits
from tests.support import ROOT


@pytest.fixture
def restored() -> Iterator[None]:
    """gc and the environment as they were, whatever the test left."""
    enabled, environ = gc.isenabled(), dict(os.environ)
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()
    os.environ.clear()
    os.environ.update(environ)
    startup._collector_paused = False


async def _lifespan(guard: FunctionGuard) -> list[MutableMapping[str, Any]]:
    """Start-up then shutdown, as uvicorn runs them; what the guard answered."""
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            assert gc.isenabled()
        sent.append(message)

    await guard({"type": "lifespan"}, receive, send)
    return sent


@pytest.mark.usefixtures("restored")
async def test_collection_pauses_at_start_up_and_resumes_with_the_lifespan() -> None:
    os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)
    startup.begin()
    assert not gc.isenabled()
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    guard = FunctionGuard(_never_called, "http", limits=Limits(1024, 1024, 1.0, 1))
    assert [m["type"] for m in await _lifespan(guard)] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored")
def test_a_collector_switched_off_before_stays_off_and_a_set_variable_stays() -> None:
    gc.disable()
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = ""
    startup.begin()
    startup.done()
    assert not gc.isenabled()
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == ""


def test_only_serve_pauses_the_collector() -> None:
    # Other commands (relay, dispatch, dev) have no lifespan to resume it.
    probe = (
        "import gc, sys\n"
        "import shared.cli, shared.logs\n"
        "shared.logs.configure_logging = lambda: sys.exit(0 if gc.isenabled() else 1)\n"
        "shared.cli.main(sys.argv[1:])\n"
    )
    for command, collects in ((["migrate"], True), (["serve", "confirm"], False)):
        run = subprocess.run([sys.executable, "-c", probe, *command], cwd=ROOT, check=False)
        assert (run.returncode == 0) is collects, command


async def _never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the lifespan is the guard's own")
