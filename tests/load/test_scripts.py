"""Short k6 runs of the load scripts, so that they never rot: they pass against a working
system and fail (thresholds broken) against one that does not finish orders."""

import uuid
from pathlib import Path

from tests.load.k6 import run_k6
from tests.support import served_function
from tests.system import LocalSystem

RATE, DURATION = 10, 3


def test_the_crud_mix_passes_its_thresholds(database_url: str, broker: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": broker}
    with served_function("orders_http", env) as url:
        result = run_k6(
            "crud.js", {"BASE_URL": url, "DURATION": "3s", "VUS": "4"}, tmp_path / "s.json"
        )
    assert result.passed
    assert result.metrics["checks"]["passes"] > 100
    assert result.error_rate == 0


def test_the_lifecycle_run_sees_every_order_shipped(
    database_url: str, broker: str, tmp_path: Path
) -> None:
    zero = {"CONFIRM_DELAY_SECONDS": "0", "SHIP_DELAY_SECONDS": "0"}
    with LocalSystem(database_url, broker, **zero) as system:
        result = run_k6(
            "lifecycle.js",
            {
                "BASE_URL": system.url("orders_http"),
                "RATE": str(RATE),
                "DURATION": str(DURATION),
                "RUN_ID": f"smoke-{uuid.uuid4()}",
                "SETTLE": "60",
                # Latency is for `make bench` to judge; here the first requests open the pool.
                "CREATE_P95_MS": "2000",
                "CREATE_P99_MS": "2000",
            },
            tmp_path / "s.json",
        )
    assert result.passed
    assert result.metrics["orders_shipped"]["count"] >= RATE * DURATION


def test_the_lifecycle_run_fails_when_orders_do_not_ship(
    database_url: str, broker: str, tmp_path: Path
) -> None:
    # orders_http alone: orders are created and announced, but nothing moves them on.
    env = {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": broker}
    with served_function("orders_http", env) as url:
        result = run_k6(
            "lifecycle.js",
            {"BASE_URL": url, "RATE": str(RATE), "DURATION": "2", "SETTLE": "1"},
            tmp_path / "s.json",
        )
    assert not result.passed
    assert result.metrics["orders_not_shipped"]["count"] >= RATE * 2
    assert result.metrics["orders_shipped"]["count"] == 0
