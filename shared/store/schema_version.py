"""The schema's number: how far a database's schema has come, as a number that only grows.

Every Alembic revision id is its number, zero-padded to four digits: "0001", "0002", ...; each
migration's `down_revision` is the number before it (`tests/store/test_schema_version.py` holds
every migration to that, so a new one is made with `alembic revision --rev-id 0004 -m ...`).
So the `alembic_version` row Alembic already writes, in the migration's own transaction, says
which number a database is at: code built for number N reads a database at N + 1 as later than
its own without knowing that migration.

Readiness accepts a database at or past the code's number: migrations expand first and contract
later (a migration keeps the code of the previous number working: add a nullable column or a
table, never drop or rename what that code uses until a later number, once no code older than
the expansion runs), so a migration applied for the next image leaves the running pods ready,
and a rollback of the image runs on the newer schema. A database behind the code is not ready.
"""

import re

# The number of the newest migration this code was written for (its head); a test keeps it
# equal to the newest migration under alembic/versions.
CODE_SCHEMA_NUMBER = 4
_REVISION_ID = re.compile(r"[0-9]{4}")


def revision_id(number: int) -> str:
    """The Alembic revision id of schema number `number`."""
    return f"{number:04d}"


def schema_number(revision: str | None) -> int | None:
    """The number of an Alembic revision id, or None if it is not one of ours."""
    if revision is None or not _REVISION_ID.fullmatch(revision):
        return None
    return int(revision)


def not_ready_because(revision: str | None, code_number: int = CODE_SCHEMA_NUMBER) -> str | None:
    """Why code built for `code_number` must not serve a database whose `alembic_version` is
    `revision` (None: no such table or row), or None when it may: the database is at or past
    the code's number."""
    if revision is None:
        return "the database has no schema yet (no alembic_version): run `orders migrate`"
    number = schema_number(revision)
    if number is None:
        return (
            f"the database schema is at revision {revision!r}, which is not a schema number"
            f" (this code needs {revision_id(code_number)} or later)"
        )
    if number < code_number:
        return (
            f"the database schema ({revision}) is older than this code"
            f" (it needs {revision_id(code_number)} or later): run `orders migrate`"
        )
    return None
