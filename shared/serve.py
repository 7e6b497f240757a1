"""Serve one function in one process: functions-framework's ASGI app under uvicorn."""

import os
from pathlib import Path
from typing import Any

import uvicorn

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
FUNCTIONS = ("orders_http", "confirm", "ship", "outbox_relay")


def function_source(target: str) -> Path:
    """The function's file: `FUNCTION_SOURCE` when set, else `functions/<target>/main.py`."""
    if target not in FUNCTIONS:
        raise SystemExit(f"unknown function {target!r}; choose one of {', '.join(FUNCTIONS)}")
    return Path(os.environ.get("FUNCTION_SOURCE") or FUNCTIONS_DIR / target / "main.py")


# orders_http records its requests itself, by route template rather than raw path.
SELF_OBSERVING = ("orders_http",)


def function_app(target: str) -> Any:
    """The ASGI app functions-framework builds around one function, behind the ops routes."""
    from functions_framework.aio import create_asgi_app

    from shared.ops import OpsRoutes

    app = create_asgi_app(target=target, source=str(function_source(target)))  # type: ignore[no-untyped-call]
    return OpsRoutes(app, observe_requests=target not in SELF_OBSERVING)


def serve(target: str | None = None, host: str | None = None, port: int | None = None) -> None:
    """Serve `target` (default: `FUNCTION_TARGET`) until SIGTERM."""
    from shared.settings import get_settings

    target = target or os.environ.get("FUNCTION_TARGET", "")
    settings = get_settings()
    uvicorn.run(
        function_app(target),
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile,
        host=host or os.environ.get("HOST", "0.0.0.0"),
        port=port or int(os.environ.get("PORT", "8080")),
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=5,
    )
