"""SQL for the idempotency keys: the first answer to a create, replayed for its retries."""

from datetime import datetime
from typing import NamedTuple
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


class KeyClaim(NamedTuple):
    """A request's claim on its Idempotency-Key: the request's hash and the answer it gets."""

    key: str
    request_hash: str
    status_code: int
    body: str


class Answer(NamedTuple):
    """The answer of the request that first claimed a key."""

    status_code: int
    body: str


async def claim(
    conn: asyncpg.Connection, claim: KeyClaim, order_id: UUID, now: datetime
) -> Answer | None:
    """Claim the key for this request; if an earlier request holds it, that one's answer.

    A concurrent holder makes this wait for that transaction, so the loser sees its answer.
    """
    status = await conn.execute(
        CLAIM_KEY, claim.key, claim.request_hash, order_id, claim.status_code, claim.body, now
    )
    if status.endswith(" 1"):
        return None
    row = await conn.fetchrow(SELECT_KEY, claim.key)
    if row["request_hash"] != claim.request_hash:
        raise IdempotencyKeyReused()
    return Answer(row["status_code"], row["body"])


async def forget(conn: asyncpg.Connection, older_than_seconds: float, limit: int) -> int:
    status: str = await conn.execute(FORGET_KEYS, older_than_seconds, limit)
    return int(status.rsplit(" ", 1)[1])
