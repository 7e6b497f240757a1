"""Liveness and readiness, the same for every function."""

import asyncpg
import orjson
from starlette.responses import Response

from shared.db import Database, DatabaseUnavailable
from shared.problems import problem

# The Alembic revision this code expects; a test keeps it equal to the migrations' head.
SCHEMA_REVISION = "0002"


def alive() -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


async def ready(database: Database, retry_after_seconds: int) -> Response:
    """Ready when the database answers and its schema is the one this code was written for."""
    headers = {"Retry-After": str(retry_after_seconds)}
    try:
        revision = await database.fetch_value("SELECT version_num FROM alembic_version")
    except DatabaseUnavailable as exc:
        return problem(
            503, "not-ready", "Service Unavailable", f"database unreachable: {exc}", headers=headers
        )
    except asyncpg.UndefinedTableError:
        revision = None
    if revision != SCHEMA_REVISION:
        detail = f"database schema is at {revision!r}, this code needs {SCHEMA_REVISION!r}"
        return problem(503, "not-ready", "Service Unavailable", detail, headers=headers)
    return Response(
        orjson.dumps({"status": "ready", "schema": revision}), media_type="application/json"
    )
