"""A served function's start-up, kept short: each cold start of a scale-to-zero function waits
on it, and nearly all of it is loading modules (functions-framework's Flask, pydantic, uvicorn,
asyncpg). Around that, `orders serve` spares two costs of its own:

- No garbage collection while the modules load. The objects they make live as long as the
  process, and the collector, run every 700 allocations, walked them again and again to free
  almost nothing (a few hundred objects): about 45 ms of CPU in every start.
- No search for pydantic plugins. pydantic looks for them at the first model it builds by
  reading the metadata of every installed package; these functions use none.
  `PYDANTIC_DISABLE_PLUGINS`, when set (to anything, even empty), is left as it is.
"""

import gc
import os

_collector_paused = False


def begin() -> None:
    """Before the first heavy import: until `done()`, no collection."""
    global _collector_paused
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if gc.isenabled():
        gc.disable()
        _collector_paused = True


def done() -> None:
    """Once the app is built (its lifespan starts): what start-up created goes out of the
    collector's sight for good, so that a full collection under load pauses a function for
    milliseconds, not the 70-180 it took; then collection resumes if `begin()` paused it."""
    global _collector_paused
    gc.freeze()
    if _collector_paused:
        gc.enable()
        _collector_paused = False
