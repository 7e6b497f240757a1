"""bench-scale's profile: two snapshots of PostgreSQL's statistics become costs per request,
py-spy's raw stacks the functions that cost most, and both a few lines of scale.md."""

import asyncpg
import pytest

from tests.load import scale_profile
from tests.load.scale_profile import Snapshot, per_request, render, top_functions


def _snapshot(
    blocks: dict[str, tuple[float, float]], io: dict[str, tuple[float, ...]], wal: float
) -> Snapshot:
    return {"blocks": dict(blocks), "io": dict(io), "wal": {"wal": (wal, 0.0)}}


def test_per_request_is_the_difference_per_request_most_touched_first() -> None:
    before = _snapshot(
        {"orders": (100, 10), "orders_pkey": (50, 0), "outbox": (0, 0)},
        {"client backend": (5, 1, 0, 0, 0), "checkpointer": (0, 0, 3, 0, 1)},
        1000,
    )
    after = _snapshot(
        {
            "orders": (300, 30),  # 2 hit, 0.2 read a request
            "orders_pkey": (450, 0),  # 4 hit
            "outbox": (0, 0),  # untouched: left out
            "ix_new": (100, 100),  # absent before: counted from 0, 2 a request
        },
        {"client backend": (25, 3, 0, 0, 0), "checkpointer": (0, 0, 3, 0, 1)},
        21_000,
    )
    profile = per_request(before, after, 100)
    assert profile["blocks"] == [
        ["orders_pkey", 4.0, 0.0],
        ["orders", 2.0, 0.2],
        ["ix_new", 1.0, 1.0],
    ]
    assert profile["io"] == {"client backend": [0.2, 0.02, 0.0, 0.0, 0.0]}
    assert profile["wal bytes"] == 200.0


def test_per_request_keeps_the_top_relations_only() -> None:
    names = [f"r{n}" for n in range(scale_profile.TOP + 3)]
    before = _snapshot(dict.fromkeys(names, (0.0, 0.0)), {}, 0)
    after = _snapshot({name: (float(n), 0.0) for n, name in enumerate(names)}, {}, 0)
    top = [row[0] for row in per_request(before, after, 1)["blocks"]]
    assert top == list(reversed(names))[: scale_profile.TOP]


RAW = """\
<module> (runpy.py:198);run (asyncio/runners.py:118);fetch (asyncpg/connection.py:690) 30
<module> (runpy.py:198);run (asyncio/runners.py:118);fetch (asyncpg/connection.py:702) 20
<module> (runpy.py:198);run (asyncio/runners.py:118) 10
<module> (runpy.py:198);select (/x/lib/python3.11/selectors.py:468) 40
not a stack line
"""


def test_top_functions_count_own_time_per_function_across_its_lines() -> None:
    assert top_functions(RAW) == [
        ("fetch (asyncpg/connection.py)", 50.0),
        ("select (python3.11/selectors.py)", 40.0),
        ("run (asyncio/runners.py)", 10.0),
    ]
    assert top_functions(RAW, count=1) == [("fetch (asyncpg/connection.py)", 50.0)]
    assert top_functions("") == []


def test_render_says_per_request_what_each_row_cost() -> None:
    run = {
        "size": 1_000_000,
        "ids": "uuid7",
        "profile": {
            "list": {
                "blocks": [["orders", 19.5, 1.25]],
                "io": {"client backend": [1.25, 0.5, 0.0, 0.0, 0.0]},
                "wal bytes": 0.0,
                "wal fpi": 0.0,
                "py-spy": [("fetch (asyncpg/connection.py)", 12.5)],
                "cpu ms": 0.456,
            }
        },
        "list plan": "Limit (actual rows=20)\n  Buffers: shared hit=21 read=3",
    }
    text = "\n".join(render(run))
    assert "Profile at 1,000,000 orders, uuid7" in text
    assert "- list: shared blocks hit/read: orders 19.5/1.25" in text
    assert "pg_stat_io, client backend: reads 1.250, read ms 0.500" in text
    assert "writes" not in text
    assert (
        "orders_http: 0.46 ms of CPU; py-spy, own time: fetch (asyncpg/connection.py) 12.5%" in text
    )
    assert "Buffers: shared hit=21 read=3" in text


@pytest.fixture
def no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scale_profile, "STATS_SETTLE_SECONDS", 0.0)


@pytest.mark.usefixtures("no_settling")
async def test_the_statistics_and_the_plan_come_from_a_live_database(
    db: asyncpg.Connection, database_url: str
) -> None:
    snapshot = await scale_profile.snapshot(database_url)
    assert {"orders", "orders_pkey", "ix_orders_customer_seq"} <= set(snapshot["blocks"])
    assert "client backend" in snapshot["io"]
    assert all(len(values) == len(scale_profile.IO_FIELDS) for values in snapshot["io"].values())
    plan = await scale_profile.list_plan(database_url, [f"c-{n}" for n in range(8)])
    assert "Buffers" in plan or "actual rows=0" in plan
    assert "Limit" in plan
