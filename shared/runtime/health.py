"""Liveness and readiness, the same for every function."""

import asyncpg
import orjson
from starlette.responses import Response

from shared.runtime.problems import service_unavailable
from shared.store.db import Database, DatabaseUnavailable

# The Alembic revision this code expects; a test keeps it equal to the migrations' head.
SCHEMA_REVISION = "0003"


def alive() -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


async def ready(database: Database, retry_after_seconds: int) -> Response:
    """Ready when the database answers and its schema is the one this code was written for."""
    try:
        revision = await database.fetch_value("SELECT version_num FROM alembic_version")
    except DatabaseUnavailable as exc:
        return service_unavailable("not-ready", f"{exc.reason}: {exc}", retry_after_seconds)
    except asyncpg.UndefinedTableError:
        revision = None
    if revision != SCHEMA_REVISION:
        detail = f"database schema is at {revision!r}, this code needs {SCHEMA_REVISION!r}"
        return service_unavailable("not-ready", detail, retry_after_seconds)
    return Response(
        orjson.dumps({"status": "ready", "schema": revision}), media_type="application/json"
    )
