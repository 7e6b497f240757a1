"""indexes for the relay's retention deletes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Built without blocking writes (so outside a transaction): a live outbox may be large. A build
# cut short leaves an invalid index behind, so a rerun drops whatever is there and builds anew.
INDEXES = (
    ("ix_outbox_time", "outbox", "time"),
    ("ix_idempotency_keys_created_at", "idempotency_keys", "created_at"),
)


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, column in INDEXES:
            op.create_index(name, table, [column], postgresql_concurrently=True, if_not_exists=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, _ in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
