"""The edge search's pure parts: a step's verdict, the next rate, and where the search ends."""

from typing import Any

from tests.load.edge import RESOLUTION, START, failures, holds, next_rate, search
from tests.load.edge_profile import top_functions


def _step(**changes: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "rate_asked": 600,
        "shipped_per_second": 600.0,
        "orders_created": 36_000,
        "orders_shipped": 36_000,
        "orders_not_shipped": 0,
        "create_failures": 0,
        "dropped_iterations": 0,
        "verify_checks_failed": 0,
        "create_p99_ms": 31.0,
    }
    return {**step, **changes}


def test_a_clean_step_holds() -> None:
    assert holds(_step())


def test_one_lost_order_fails_the_step_whether_k6_or_the_database_saw_it() -> None:
    assert failures(_step(orders_not_shipped=1)) == ["1 lost"]
    assert failures(_step(orders_shipped=35_999)) == ["1 lost"]


def test_each_condition_alone_fails_the_step() -> None:
    assert failures(_step(create_failures=2)) == ["2 failed creates"]
    assert failures(_step(dropped_iterations=5)) == ["5 dropped"]
    assert failures(_step(verify_checks_failed=1)) == ["an order missing from the list"]
    assert failures(_step(create_p99_ms=50.0)) == ["p99 50.0 ms"]
    assert failures(_step(create_p99_ms=float("nan"))) == ["p99 nan ms"]
    # 0.98 of the rate asked is keeping pace; less is falling behind.
    assert holds(_step(shipped_per_second=588.0))
    assert failures(_step(shipped_per_second=587.0)) == ["carried 587/s"]


def test_the_search_grows_from_the_start_until_a_step_fails() -> None:
    assert next_rate([]) == START
    assert next_rate([(250, True)]) == 400  # 375, to the resolution
    assert next_rate([(250, True), (400, True)]) == 600


def test_the_search_converges_on_a_known_edge_within_its_resolution() -> None:
    for edge in (260, 730, 1190, 1210, 1575):

        def holds_up_to_edge(rate: int, edge: int = edge) -> bool:
            return rate <= edge

        tried = search(holds_up_to_edge, steps=20)
        best = max(rate for rate, held in tried if held)
        failed_above = min(rate for rate, held in tried if not held)
        assert best <= edge < failed_above
        assert failed_above - best <= RESOLUTION, tried


def test_the_search_stops_at_the_cap_of_steps_and_at_the_top_rate() -> None:
    assert len(search(lambda rate: rate <= 1_000_000, steps=3)) == 3
    tried = search(lambda rate: True, steps=20, top=1000)
    assert [rate for rate, _ in tried] == [250, 400, 600, 900, 1000]


def test_a_first_step_that_fails_sends_the_search_below_the_start() -> None:
    tried = search(lambda rate: rate <= 120, steps=20)
    assert tried[0] == (250, False)
    assert max(rate for rate, held in tried if held) == 100


def test_py_spy_functions_are_ranked_by_their_own_samples() -> None:
    collapsed = "\n".join(
        [
            "main (/srv/app/run.py:1);handle (/srv/shared/api.py:10);dumps (json/encoder.py:3) 30",
            "main (/srv/app/run.py:1);handle (/srv/shared/api.py:10) 10",
            "main (/srv/app/run.py:1);poll (asyncio/base_events.py:5) 60",
        ]
    )
    assert top_functions(collapsed, 2) == [
        ("poll (asyncio/base_events.py)", 0.6),
        ("dumps (json/encoder.py)", 0.3),
    ]
