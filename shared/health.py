"""Liveness and readiness, the same for every function."""

import asyncpg
import orjson
from starlette.responses import Response

from shared.db import Database, DatabaseUnavailable
from shared.problems import service_unavailable
from shared.store.schema_version import CODE_SCHEMA_NUMBER, not_ready_because, revision_id

# The Alembic revision of the head this code was written for; readiness takes it or any later.
SCHEMA_REVISION = revision_id(CODE_SCHEMA_NUMBER)


def alive() -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


async def ready(database: Database, retry_after_seconds: int) -> Response:
    """Ready when the database answers and its schema is at or past the one this code was
    written for (`shared/store/schema_version.py`)."""
    try:
        revision = await database.fetch_value("SELECT version_num FROM alembic_version")
    except DatabaseUnavailable as exc:
        return service_unavailable("not-ready", f"{exc.reason}: {exc}", retry_after_seconds)
    except asyncpg.UndefinedTableError:
        revision = None
    detail = not_ready_because(revision)
    if detail is not None:
        return service_unavailable("not-ready", detail, retry_after_seconds)
    return Response(
        orjson.dumps({"status": "ready", "schema": revision}), media_type="application/json"
    )
