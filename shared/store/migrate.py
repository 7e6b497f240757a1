"""`alembic upgrade head`, after waiting for the database to accept connections."""

import asyncio
import logging
from pathlib import Path

import asyncpg
from tenacity import before_sleep_log, retry, retry_if_exception_type, stop_after_delay, wait_fixed

from shared.settings import get_settings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
log = logging.getLogger("orders.migrate")


@retry(
    retry=retry_if_exception_type((OSError, asyncpg.CannotConnectNowError, TimeoutError)),
    stop=stop_after_delay(60),
    wait=wait_fixed(1),
    before_sleep=before_sleep_log(log, logging.WARNING),
    reraise=True,
)
async def wait_for_database(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    await conn.close()


def upgrade_to_head(database_url: str | None = None) -> None:
    """Migrate `database_url` (default: the settings' database) to the newest revision."""
    from alembic.config import Config

    from alembic import command

    settings = get_settings()
    asyncio.run(wait_for_database(settings.postgres_dsn if database_url is None else database_url))
    config = Config(str(ALEMBIC_INI))
    if database_url is not None:
        config.attributes["database_url"] = database_url.replace(
            "postgresql://", "postgresql+asyncpg://", 1
        )
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")
