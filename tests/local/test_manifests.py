"""The local stand-ins read their routes from the cluster manifests."""

import pytest

from shared.local.manifests import iso_duration_seconds, kafka_sources, ping_sources
from shared.local.topology import sink_urls


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT0.5S", 0.5), ("PT5M", 300), ("PT1H2M3S", 3723), ("P1D", 86400), ("PT10S", 10)],
)
def test_iso_durations(text: str, seconds: float) -> None:
    assert iso_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "5s", "PT-1S", "T5S"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        iso_duration_seconds(text)


def test_kafka_sources_route_each_step() -> None:
    sources = {source.name: source for source in kafka_sources()}
    assert set(sources) == {"confirm-on-created", "ship-on-confirmed"}
    confirm, ship = sources["confirm-on-created"], sources["ship-on-confirmed"]
    assert (confirm.topics, confirm.sink_service, confirm.consumer_group) == (
        ("orders.created",),
        "confirm",
        "orders-confirm",
    )
    assert (ship.topics, ship.sink_service, ship.consumer_group) == (
        ("orders.confirmed",),
        "ship",
        "orders-ship",
    )
    for source in sources.values():
        assert source.ordering == "unordered"
        assert source.initial_offset == "earliest"
        assert source.delivery.dead_letter_topic == "orders.dlq"
        assert source.delivery.retry >= 5
        assert source.delivery.timeout > 60, "a step holds its request through its delay"
        assert source.sink_service in sink_urls()


def test_exponential_backoff_doubles() -> None:
    delivery = kafka_sources()[0].delivery
    assert [delivery.backoff(n) for n in range(3)] == [
        delivery.backoff_delay,
        delivery.backoff_delay * 2,
        delivery.backoff_delay * 4,
    ]


def test_ping_source_fires_the_relay() -> None:
    [ping] = ping_sources()
    assert ping.sink_service == "outbox-relay"
    assert ping.sink_service in sink_urls()
