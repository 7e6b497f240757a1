"""The relay's re-drive query keeps its plan as the outbox grows: from the orders on their way,
found by status, to their events by order id; never a scan of every old event."""

from collections.abc import Iterator
from typing import Any

import asyncpg
import orjson

from shared.domain.lifecycle import OrderStatus
from shared.store.outbox import DRIVING_EVENTS, driving_events
from shared.store.outbox_partitions import is_partition

ORDERS, ON_THEIR_WAY, STALLED = 100_000, 5_000, 20
# An order every 4 ms (250/s) until now: the last 20 s still on their way (CREATED or CONFIRMED,
# not overdue), the first few stalled there long ago, the rest SHIPPED with three events.
# With the join this replaced, PostgreSQL 16 scanned the whole outbox here (57 ms, against 20).
SEED = f"""
INSERT INTO orders (id, customer_id, items, total_cents, status, version, created_at,
                    updated_at)
SELECT gen_random_uuid(), 'c-' || (n % 500), '[]'::jsonb, 0,
       CASE WHEN n > {ORDERS - ON_THEIR_WAY} OR n <= {STALLED}
            THEN CASE WHEN n % 2 = 0 THEN 'CREATED' ELSE 'CONFIRMED' END
            ELSE 'SHIPPED' END,
       1, now() - ({ORDERS} - n) * interval '4 ms', now()
FROM generate_series(1, {ORDERS}) AS n;
INSERT INTO outbox (id, order_id, type, source, time, data, published_at)
SELECT gen_random_uuid(), o.id, t.type, t.source, o.created_at + t.step * interval '1 ms',
       '{{}}'::bytea, o.created_at + t.step * interval '1 ms'
FROM orders o CROSS JOIN (VALUES
  ('orders.order.created', '/orders/orders_http', 0), ('orders.order.confirmed', '/orders/confirm', 1),
  ('orders.order.shipped', '/orders/ship', 2)) AS t(type, source, step)
WHERE o.status = 'SHIPPED' OR t.step = 0 OR (o.status = 'CONFIRMED' AND t.step = 1);
"""


def _outbox(tables: set[str]) -> set[str]:
    return {t for t in tables if t == "outbox" or is_partition(t)}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def test_the_redrive_reads_the_outbox_by_order_id_only(scratch_database: str) -> None:
    conn = await asyncpg.connect(scratch_database)
    try:
        await conn.execute(SEED)
        await conn.execute("ANALYZE")
        explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {DRIVING_EVENTS}", 60.0, 60.0)
        nodes = list(_nodes(orjson.loads(explained)[0]["Plan"]))
        # The outbox is partitioned: its scans are its partitions', through their copies of
        # its indexes.
        tables = {"outbox", *(n["Relation Name"] for n in nodes if "Relation Name" in n)}
        scans = {n["Node Type"] for n in nodes if n.get("Relation Name") in _outbox(tables)}
        outbox_indexes = {n["Index Name"] for n in nodes if "outbox" in n.get("Index Name", "")}
        copies = await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'ix_outbox_order'::regclass"
        )
        stalled = await driving_events(
            conn, {OrderStatus.CREATED: 60.0, OrderStatus.CONFIRMED: 60.0}
        )
    finally:
        await conn.close()
    assert not {"Seq Scan", "Parallel Seq Scan"} & scans, scans
    assert outbox_indexes, nodes
    assert outbox_indexes <= {row["relname"] for row in copies}, outbox_indexes
    # Each stalled order's newest driving event: a CONFIRMED order's confirmed, not its created.
    assert sorted(event.type for event in stalled) == sorted(
        ["orders.order.created", "orders.order.confirmed"] * (STALLED // 2)
    )
    assert len({event.order_id for event in stalled}) == STALLED
