from tests.load.system_load import carried_per_second


def test_a_pipeline_that_keeps_pace_carries_the_offered_rate() -> None:
    # 15,000 orders in 60 s, the last shipped 0.3 s after the last create.
    assert carried_per_second(15_000, 60, span=60.3, lag=0.3) == 250


def test_a_pipeline_falling_behind_carries_what_it_shipped_over_the_longer_span() -> None:
    # The backlog grew: the last order shipped 15 s after the last create.
    assert carried_per_second(15_000, 60, span=75, lag=15) == 200
