"""Readiness by schema number: code is ready on a database at or past its own number, so the
previous code keeps running on the next schema (migrations expand first, contract later)."""

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command
from shared.store.migrate import ALEMBIC_INI
from shared.store.schema_version import (
    CODE_SCHEMA_NUMBER,
    not_ready_because,
    revision_id,
    schema_number,
)
from tests.support import created_event, order_body, served_function

# A migration of the next number, as the next image would bring it: it only adds (a nullable
# column on each table the hot path writes with RETURNING or unnest), so the code of this
# number must keep working on it.
NEXT_MIGRATION = '''"""next: what the next image adds

Revision ID: {revision}
Revises: {down_revision}
"""

import sqlalchemy as sa

from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("gift_note", sa.Text(), nullable=True))
    op.add_column("outbox", sa.Column("partition_hint", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "partition_hint")
    op.drop_column("orders", "gift_note")
'''


def test_schema_numbers_are_the_revision_ids() -> None:
    assert schema_number("0003") == 3
    assert schema_number("0012") == 12
    assert revision_id(4) == "0004"
    for foreign in (None, "", "3", "00003", "ae1027a6acf", "0003 "):
        assert schema_number(foreign) is None


def test_a_database_at_or_past_the_code_is_ready() -> None:
    assert not_ready_because("0003", code_number=3) is None
    assert not_ready_because("0004", code_number=3) is None
    assert not_ready_because("0120", code_number=3) is None


def test_a_database_behind_the_code_or_unnumbered_is_not_ready() -> None:
    behind = not_ready_because("0002", code_number=3)
    assert behind is not None
    assert "older than this code" in behind
    assert "0003 or later" in behind
    assert "(0002)" in behind
    missing = not_ready_because(None, code_number=3)
    assert missing is not None
    assert "no schema" in missing
    foreign = not_ready_because("ae1027a6acf", code_number=3)
    assert foreign is not None
    assert "not a schema number" in foreign


def test_every_migration_is_numbered_one_after_the_last() -> None:
    # What makes a revision id a schema number: a single chain, 0001, 0002, ... with no gap.
    scripts = ScriptDirectory.from_config(Config(str(ALEMBIC_INI)))
    chain = list(reversed(list(scripts.walk_revisions())))
    assert [s.revision for s in chain] == [revision_id(n) for n in range(1, len(chain) + 1)]
    assert [s.down_revision for s in chain] == [None] + [s.revision for s in chain[:-1]]
    assert scripts.get_heads() == [revision_id(CODE_SCHEMA_NUMBER)]


@pytest.fixture
def next_config(tmp_path: Path, scratch_database: str) -> Config:
    """Alembic on the scratch database, knowing one migration more than the code: the next."""
    versions = tmp_path / "next_versions"
    versions.mkdir()
    number = CODE_SCHEMA_NUMBER + 1
    (versions / f"{revision_id(number)}_next.py").write_text(
        NEXT_MIGRATION.format(
            revision=revision_id(number), down_revision=revision_id(CODE_SCHEMA_NUMBER)
        )
    )
    config = Config(str(ALEMBIC_INI))
    ours = ALEMBIC_INI.parent / "alembic" / "versions"
    config.set_main_option("version_locations", f"{ours}:{versions}")
    config.attributes["database_url"] = scratch_database.replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    config.attributes["configure_logging"] = False
    return config


async def test_the_code_stays_ready_and_works_on_the_next_schema(
    scratch_database: str, next_config: Config
) -> None:
    await asyncio.to_thread(command.upgrade, next_config, "head")
    conn = await asyncpg.connect(scratch_database)
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == revision_id(
            CODE_SCHEMA_NUMBER + 1
        )
        env = {"DATABASE_URL": scratch_database, "CONFIRM_DELAY_SECONDS": "0"}
        with (
            served_function("orders_http", env) as orders,
            served_function("confirm", env) as confirm,
        ):
            for url in (orders, confirm):
                ready = httpx.get(f"{url}/readyz", timeout=15)
                assert ready.status_code == 200, ready.text
                assert ready.json() == {
                    "status": "ready",
                    "schema": revision_id(CODE_SCHEMA_NUMBER + 1),
                }
            # The previous code on the next schema: creates, reads, lists, and moves orders.
            created = httpx.post(f"{orders}/", json=order_body(), timeout=15)
            assert created.status_code == 201, created.text
            order = created.json()
            assert httpx.get(f"{orders}/{order['id']}", timeout=15).json() == order
            listed = httpx.get(f"{orders}/", timeout=15).json()
            assert [o["id"] for o in listed["items"]] == [order["id"]]
            headers, body = await created_event(conn, order["id"])
            moved = httpx.post(f"{confirm}/", content=body, headers=headers, timeout=15)
            assert moved.status_code == 200, moved.text
            after = httpx.get(f"{orders}/{order['id']}", timeout=15).json()
            assert after["status"] == "CONFIRMED"
            assert await conn.fetchval("SELECT count(*) FROM outbox") == 2
            assert await conn.fetchval("SELECT count(*) FROM orders WHERE gift_note IS NULL") == 1
    finally:
        await conn.close()


async def test_a_database_behind_the_code_is_not_ready(
    scratch_database: str, next_config: Config
) -> None:
    behind = revision_id(CODE_SCHEMA_NUMBER - 1)
    await asyncio.to_thread(command.downgrade, next_config, behind)
    with served_function("orders_http", {"DATABASE_URL": scratch_database}) as url:
        answer = httpx.get(f"{url}/readyz", timeout=15)
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        detail = answer.json()["detail"]
        assert "older than this code" in detail, detail
        assert f"({behind})" in detail, detail
    await asyncio.to_thread(command.upgrade, next_config, revision_id(CODE_SCHEMA_NUMBER))
    with served_function("orders_http", {"DATABASE_URL": scratch_database}) as url:
        assert httpx.get(f"{url}/readyz", timeout=15).status_code == 200
