"""The bench table judges each goal from the figures it is given, and shows only phases run."""

from typing import Any

from tests.load.table import render_table


def _cold(seconds: float, rss_mib: float) -> dict[str, float]:
    return {"seconds": seconds, "rss_mib": rss_mib}


def _row(table: str, target: str) -> str:
    return next(line for line in table.splitlines() if f"cold start {target} " in line)


def test_cold_start_rows_judge_each_goal_from_the_figures() -> None:
    results: dict[str, Any] = {
        "machine": "test",
        "cold_start": {
            "confirm": _cold(0.25, 40.0),  # 0.25x peer, 0.50x framework
            "ship": _cold(0.4, 40.0),  # 0.40x peer, 0.80x framework
            "orders_http": _cold(0.7, 70.0),  # 0.70x peer, over the memory bound
            "peer": _cold(1.0, 75.0),
            "framework": _cold(0.5, 65.0),
        },
    }
    table = render_table(results)
    assert "| - / 0.25x / 0.50x |" in _row(table, "confirm")
    assert _row(table, "confirm").endswith(
        "<= 0.6x peer: met; <= 60 MiB: met; <= 0.5x framework: met |"
    )
    assert _row(table, "ship").endswith(
        "<= 0.6x peer: met; <= 60 MiB: met; <= 0.5x framework: NOT met |"
    )
    assert _row(table, "orders_http").endswith(
        "<= 0.6x peer: NOT met; <= 60 MiB: NOT met; <= 0.5x framework: NOT met |"
    )
    assert "500 ms; 65.0 MiB" in _row(table, "confirm")
    assert "cold start peer" not in table
    assert "cold start framework" not in table
    assert "lifecycle" not in table
    assert "POST /" not in table


def test_without_the_framework_reference_its_aim_is_not_judged() -> None:
    results = {"machine": "test", "cold_start": {"confirm": _cold(0.3, 40), "peer": _cold(1, 75)}}
    row = _row(render_table(results), "confirm")
    assert row.endswith("<= 0.6x peer: met; <= 60 MiB: met |")
    assert "| - / 0.30x / - |" in row


def test_a_piece_of_our_own_is_kept_only_over_two_percent_of_the_cpu_per_order() -> None:
    from tests.load.standins import verdicts
    from tests.load.table import standin_rows

    measured = {"pool release without RESET ALL": {"project": 80.0, "library": 100.0}}
    # 20 µs saved per call, 3 calls an order: 60 µs, against 2,000 and 4,000 µs per order.
    kept = verdicts(measured, 2000.0)["pool release without RESET ALL"]
    assert kept["saved_us_per_order"] == 60.0
    assert kept["kept"] is True
    assert "| yes |" in standin_rows({"x": kept})[-1]
    dropped = verdicts(measured, 4000.0)["pool release without RESET ALL"]
    assert dropped["kept"] is False
    assert "NO: use the library" in standin_rows({"x": dropped})[-1]


def test_the_lifecycle_shows_its_bytes_per_order_when_measured() -> None:
    life: dict[str, Any] = {
        "rate_asked": 250,
        "duration_s": 60,
        "orders_shipped": 15000,
        "orders_not_shipped": 0,
        "last_create_to_last_ship_s": 0.4,
        "shipped_per_second": 250.0,
        "create_p50_ms": 2.0,
        "create_p95_ms": 7.0,
        "create_p99_ms": 14.0,
        "cpu_ms_per_order": {"orders_http": 1.0},
        "own_cpu_ms_per_order": 1.0,
    }
    assert "bytes per order" not in render_table({"machine": "test", "lifecycle": life})
    life["bytes_per_order"] = {"table": 812.4, "index": 301.0, "wal": 7040.0, "kafka": 1530.0}
    table = render_table({"machine": "test", "lifecycle": life})
    assert "| table 812, index 301, wal 7,040, kafka 1,530 |" in table
    assert "commits" not in table
    life["bytes_per_order"] |= {"commits": 0.514, "wal_syncs": 0.25}
    table = render_table({"machine": "test", "lifecycle": life})
    assert "| commits / WAL syncs per order | 0.51 / 0.25 |" in table.replace(
        "lifecycle: PostgreSQL ", ""
    )


def _http(rps: float) -> dict[str, float]:
    return {"rps": rps, "p50": 1.0, "p95": 2.0, "p99": 3.0, "errors": 0.0, "passed": True}


def test_crud_rows_judge_against_raw_and_five_times_the_peer() -> None:
    http: dict[str, Any] = {"tool": "wrk", "project mix": _http(1000)}
    for op, mine in (("create", 1000.0), ("read", 900.0)):
        http |= {f"project {op}": _http(mine), f"raw {op}": _http(950), f"peer {op}": _http(190)}
    lines = render_table({"machine": "test", "http": http}).splitlines()
    post = next(line for line in lines if "POST /" in line)
    get = next(line for line in lines if "GET /{id}" in line)
    assert post.endswith(">= 1.0x raw: met; >= 5x peer: met |")
    assert get.endswith(">= 1.0x raw: NOT met; >= 5x peer: NOT met |")


def _edge_step(rate: int, holds: bool, **figures: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "rate_asked": rate,
        "shipped_per_second": float(rate),
        "orders_shipped": rate * 60,
        "lost": 0,
        "create_p99_ms": 20.0,
        "holds": holds,
        "failures": [] if holds else ["p99 61.0 ms"],
        "load_cpu_ms_per_order": {"orders_http": 1.04, "confirm": 0.46, "postgres": 0.55},
        "k6_cpu_ms_per_order": 0.62,
        "k6_cores": 0.37,
    }
    return {**step, **figures}


def test_the_edge_rows_give_each_step_the_rate_held_and_its_cpu_by_process() -> None:
    steps = [_edge_step(250, True), _edge_step(400, True), _edge_step(600, False, lost=3)]
    table = render_table(
        {"machine": "test", "edge": {"steps": steps, "highest_held": 400, "goal_per_second": 1200}}
    )
    assert "| 400 | 400.0 | 24,000 | 0 | 20.0 | yes |" in table
    assert "| 600 | 600.0 | 36,000 | 3 | 20.0 | no: p99 61.0 ms |" in table
    assert "Highest rate held: 400/s (goal >= 1,200/s: NOT met)" in table
    assert "| CPU ms per order at 400/s | orders_http | confirm | postgres | whole stack |" in table
    assert "| | 1.0 | 0.5 | 0.6 | 2.0 | 0.6 (0.37 of a core) |" in table
    assert "lifecycle" not in table
    assert "| figure |" not in table  # the main table's header, without a row of its own


def test_an_edge_at_the_goal_is_met_and_one_with_no_step_held_has_no_cpu_row() -> None:
    met = {"steps": [_edge_step(1200, True)], "highest_held": 1200, "goal_per_second": 1200}
    assert "(goal >= 1,200/s: met)" in render_table({"machine": "test", "edge": met})
    none = {"steps": [_edge_step(250, False)], "highest_held": 0, "goal_per_second": 1200}
    table = render_table({"machine": "test", "edge": none})
    assert "Highest rate held: none (goal >= 1,200/s: NOT met)" in table
    assert "CPU ms per order" not in table
