"""The migrations and the models describe the same schema."""

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command
from shared.runtime.health import SCHEMA_REVISION
from shared.store.migrate import ALEMBIC_INI
from shared.store.models import Order
from shared.store.order_store import ORDER_COLUMNS


def _config(database_url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = database_url.replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    config.attributes["configure_logging"] = False
    return config


def test_alembic_check_finds_no_drift(database_url: str) -> None:
    command.check(_config(database_url))  # raises when the models and migrations differ


def test_code_expects_the_newest_revision() -> None:
    heads = ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_heads()
    assert heads == [SCHEMA_REVISION]


def test_runtime_sql_names_the_model_columns() -> None:
    model_columns = set(Order.__table__.columns.keys())  # type: ignore[attr-defined]
    assert set(ORDER_COLUMNS) == model_columns - {"seq"}


def test_the_index_migration_runs_again_after_being_cut_short(database_url: str) -> None:
    # Its indexes are built outside a transaction: a run that died before recording the
    # revision left them behind, and the next run must still succeed (on the table 0003 knew).
    command.downgrade(_config(database_url), "0003")
    command.stamp(_config(database_url), "0002")
    command.upgrade(_config(database_url), "head")
    command.check(_config(database_url))


def test_the_index_migration_goes_down_and_up_again(database_url: str) -> None:
    command.downgrade(_config(database_url), "0002")
    command.upgrade(_config(database_url), "head")
    command.check(_config(database_url))
