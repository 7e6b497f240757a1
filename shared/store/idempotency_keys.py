"""SQL for the idempotency keys: the first answer to a create, replayed for its retries."""

from datetime import datetime
from uuid import UUID

import asyncpg

from shared.domain.orders import IdempotencyKeyReused

CLAIM_KEY = """
INSERT INTO idempotency_keys (key, request_hash, order_id, status_code, body, created_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING"""
SELECT_KEY = "SELECT request_hash, status_code, body FROM idempotency_keys WHERE key = $1"
FORGET_KEYS = """
DELETE FROM idempotency_keys WHERE key IN (
  SELECT key FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)"""


async def claim(
    conn: asyncpg.Connection,
    key: str,
    request_hash: str,
    order_id: UUID,
    status_code: int,
    body: str,
    now: datetime,
) -> tuple[int, str] | None:
    """Claim `key` for this request; if an earlier request holds it, its (status, body).

    A concurrent holder makes this wait for that transaction, so the loser sees its answer.
    """
    status = await conn.execute(CLAIM_KEY, key, request_hash, order_id, status_code, body, now)
    if status.endswith(" 1"):
        return None
    row = await conn.fetchrow(SELECT_KEY, key)
    if row["request_hash"] != request_hash:
        raise IdempotencyKeyReused()
    return row["status_code"], row["body"]


async def forget(conn: asyncpg.Connection, older_than_seconds: float, limit: int) -> int:
    status: str = await conn.execute(FORGET_KEYS, older_than_seconds, limit)
    return int(status.rsplit(" ", 1)[1])
