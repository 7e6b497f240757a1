"""bench-scale's table judges the scale goals from the figures it is given."""

from typing import Any

from tests.load.scale import RELATIONS, render


def _run(size: int, ids: str, create: float, create_p99: float, list_p99: float) -> dict[str, Any]:
    def row(rps: float, p99: float) -> dict[str, float]:
        return {"rps": rps, "p50": 1.0, "p99": p99}

    return {
        "size": size,
        "ids": ids,
        "seed": {"seconds": 1.0},
        "storage": {
            "bytes": dict.fromkeys(RELATIONS, 3 * 2**20),
            "rows": {"orders": size, "outbox": 3 * size, "idempotency_keys": size // 4},
            "shared_buffers": "128MB",
            "database_bytes": 2**30,
        },
        "sweep": {"first": 0.2, "median": 0.1, "statuses": [200, 200]},
        "http": {
            "create": {
                **row(create, create_p99),
                "wal_bytes per create": 1500.0,
                "wal_fpi per create": 0.5,
            },
            "read": row(3000, 20),
            "read random": row(2900, 25),
            "list": row(800, list_p99),
        },
    }


def test_each_size_is_judged_against_size_0_of_the_same_ids() -> None:
    results = {
        "machine": "test",
        "seconds": 10,
        "rounds": 2,
        "runs": [
            _run(0, "uuid7", 3000, 40, 100),
            _run(0, "uuid4", 3000, 40, 100),
            _run(1_000_000, "uuid7", 2900, 44, 110),  # 0.97x, 1.1x, 1.1x: met
            _run(1_000_000, "uuid4", 2700, 60, 110),  # 0.90x: not met
        ],
    }
    table = render(results)
    goals = [line for line in table.splitlines() if line.startswith("- ")]
    assert len(goals) == 2
    assert goals[0].startswith("- 1,000,000 orders, uuid7, against 0: create 0.97x")
    assert goals[0].endswith(": met")
    assert goals[1].startswith("- 1,000,000 orders, uuid4, against 0: create 0.90x")
    assert goals[1].endswith("NOT met")
    assert "| 1,500 B (0.50) |" in table
    assert "| orders_pkey | 3 MB | 3 MB | 3 MB | 3 MB |" in table
    assert "| shared_buffers | 128MB | 128MB | 128MB | 128MB |" in table
