"""Alembic environment: the URL comes from the shared settings, the target from the models."""

import asyncio
from logging.config import fileConfig

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context
from shared.settings import get_settings
from shared.store.models import metadata
from shared.store.outbox_partitions import is_partition

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url: str | None = config.attributes.get("database_url")
    return url or get_settings().sqlalchemy_url


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    # The outbox's partitions are made by migration 0004 and the relay, not by the models.
    return not (type_ == "table" and name is not None and is_partition(name))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
