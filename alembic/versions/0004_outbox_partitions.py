"""the outbox partitioned by day of event id

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

The outbox becomes a table partitioned by RANGE (id) (`shared/store/outbox_partitions.py`):
the table as it stood becomes the partition `outbox_legacy` of the ids below the day after
tomorrow (UTC), rows and indexes as they are, and `outbox_default` takes every id no partition
covers, starting with the rows of the old table above that bound (UUIDv4 sort anywhere). The
relay creates the day partitions and drops expired ones. Expand-only: the columns stay, so the
code of 0003 keeps writing, claiming, re-driving and deleting as before; `seq` keeps its values
and its order but is no longer unique (PostgreSQL has no unique index across partitions without
the partition key; one sequence fills it, and only an index on the unpublished rows reads it).

The attach reads the old table once, holding it meanwhile (every write waits), and the rows
above the bound are moved to `outbox_default` under the same hold: for an outbox written before
UUIDv7 (UUIDv4 ids sort anywhere, nearly all above the bound) nearly every row, a pause of the
writes proportional to the outbox's size (README, "Outbox retention"). All of it is one
transaction: a failure leaves the table as it was, and a rerun starts over. No CHECK is added
beforehand to spare the read: it would be committed outside that transaction, and a failed run
would leave it refusing the old code's inserts once their ids reached its bound.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "id, seq, order_id, type, source, time, data, traceparent, published_at"
# The old table's indexes, as 0002 and 0003 named them, and their names as the legacy partition's.
INDEXES = {
    "ix_outbox_order": "outbox_legacy_order_id_idx",
    "ix_outbox_time": "outbox_legacy_time_idx",
    "ix_outbox_unpublished": "outbox_legacy_seq_idx",
}
LOCK_TIMEOUT = "10s"


def _parent_indexes() -> None:
    op.execute("CREATE INDEX ix_outbox_order ON outbox (order_id)")
    op.execute("CREATE INDEX ix_outbox_time ON outbox (time)")
    op.execute("CREATE INDEX ix_outbox_unpublished ON outbox (seq) WHERE published_at IS NULL")


def _first_day_bound() -> UUID:
    """As `shared.store.outbox_partitions.bound` of the day after tomorrow (UTC); written out
    here, for a migration must not change with the code."""
    day = datetime.now(UTC).date() + timedelta(days=2)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return UUID(int=int(start.timestamp()) * 1000 << 80)


def upgrade() -> None:
    first = _first_day_bound()
    # Queued behind a long transaction, the LOCK would queue every insert behind itself: it
    # fails instead, the whole migration with it, to be run again.
    op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    op.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
    op.execute("ALTER TABLE outbox RENAME TO outbox_legacy")
    op.execute("ALTER TABLE outbox_legacy RENAME CONSTRAINT outbox_pkey TO outbox_legacy_pkey")
    for old, new in INDEXES.items():
        op.execute(f"ALTER INDEX {old} RENAME TO {new}")
    # The identity's sequence goes with the identity: a plain one carries on after the last seq.
    op.execute("CREATE SEQUENCE outbox_seq AS bigint")
    op.execute("SELECT setval('outbox_seq', coalesce(max(seq), 0) + 1, false) FROM outbox_legacy")
    op.execute("ALTER TABLE outbox_legacy DROP CONSTRAINT outbox_seq_key")
    op.execute("ALTER TABLE outbox_legacy ALTER COLUMN seq DROP IDENTITY")
    op.execute(
        "CREATE TABLE outbox (id uuid NOT NULL,"
        " seq bigint NOT NULL DEFAULT nextval('outbox_seq'), order_id uuid NOT NULL,"
        " type text NOT NULL, source text NOT NULL, time timestamptz NOT NULL,"
        " data bytea NOT NULL, traceparent text, published_at timestamptz,"
        " CONSTRAINT outbox_pkey PRIMARY KEY (id)) PARTITION BY RANGE (id)"
    )
    op.execute("ALTER SEQUENCE outbox_seq OWNED BY outbox.seq")
    _parent_indexes()
    op.execute("CREATE TABLE outbox_default PARTITION OF outbox DEFAULT")
    op.execute(
        f"WITH moved AS (DELETE FROM outbox_legacy WHERE id >= '{first}' RETURNING {COLUMNS})"
        f" INSERT INTO outbox_default ({COLUMNS}) SELECT {COLUMNS} FROM moved"
    )
    # Its indexes are the parent's, attached as they are, not built again; its rows are read
    # once, to check the bound, under the lock taken above.
    op.execute(
        "ALTER TABLE outbox ATTACH PARTITION outbox_legacy"
        f" FOR VALUES FROM (MINVALUE) TO ('{first}')"
    )
    op.execute("ALTER TABLE outbox_legacy ALTER COLUMN seq SET DEFAULT nextval('outbox_seq')")


def downgrade() -> None:
    op.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
    op.execute(
        "CREATE TABLE outbox_flat (id uuid NOT NULL,"
        " seq bigint GENERATED ALWAYS AS IDENTITY NOT NULL, order_id uuid NOT NULL,"
        " type text NOT NULL, source text NOT NULL, time timestamptz NOT NULL,"
        " data bytea NOT NULL, traceparent text, published_at timestamptz)"
    )
    op.execute(
        f"INSERT INTO outbox_flat ({COLUMNS}) OVERRIDING SYSTEM VALUE SELECT {COLUMNS} FROM outbox"
    )
    op.execute(
        "SELECT setval(pg_get_serial_sequence('outbox_flat', 'seq'), nextval('outbox_seq'), false)"
    )
    op.execute("DROP TABLE outbox")  # its partitions and its sequence with it
    op.execute("ALTER TABLE outbox_flat RENAME TO outbox")
    op.execute("ALTER SEQUENCE outbox_flat_seq_seq RENAME TO outbox_seq_seq")
    op.execute("ALTER TABLE outbox ADD CONSTRAINT outbox_pkey PRIMARY KEY (id)")
    op.execute("ALTER TABLE outbox ADD CONSTRAINT outbox_seq_key UNIQUE (seq)")
    _parent_indexes()
