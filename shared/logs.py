"""Structured logs: one JSON object a line, so a log pipeline can filter by any field."""

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.settings import get_settings

# Fields a caller may attach with `extra=`, e.g. the order id and the CloudEvent id.
CONTEXT_FIELDS = ("order_id", "event_id", "event_type", "outcome", "status")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = str(value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=get_settings().log_level, handlers=[handler], force=True)
    for chatty in ("alembic.runtime.plugins", "aiokafka", "uvicorn.error"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # While the database is down, asyncpg's pool logs a traceback every second as it tries to
    # restore its floor; the 503s, /readyz and our own "database unavailable" lines say it once.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)
