"""`orders dev` on its own ports and state folder: it runs the whole lifecycle, stops cleanly,
and after a restart (with a new, empty broker) puts every order still on its way back on track."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port, order_body, wait_until_answering

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
    reason="exercises the embedded database and broker",
)


@pytest.fixture
def dev_env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "ORDERS_STATE_DIR": str(tmp_path / "state"),
        "ORDERS_PG_PORT": str(free_port()),
        "ORDERS_BROKER_PORT": str(free_port()),
        "CONFIRM_DELAY_SECONDS": "3",
        "SHIP_DELAY_SECONDS": "0.2",
        **{
            name: str(free_port())
            for name in ("ORDERS_HTTP_PORT", "CONFIRM_PORT", "SHIP_PORT", "OUTBOX_RELAY_PORT")
        },
    }
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        env.pop(name, None)
    return env


@contextmanager
def running_dev(env: dict[str, str]) -> Iterator[str]:
    dev = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "dev"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{env['ORDERS_HTTP_PORT']}"
    try:
        wait_until_answering(f"{url}/healthz", timeout=90)
        yield url
    finally:
        dev.send_signal(signal.SIGINT)
        output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0
    assert f"orders_http   http://127.0.0.1:{env['ORDERS_HTTP_PORT']}/" in output
    assert f"confirm       http://127.0.0.1:{env['CONFIRM_PORT']}/" in output
    assert not (Path(env["ORDERS_STATE_DIR"]) / "pgdata" / "postmaster.pid").exists(), (
        "postgres left running"
    )


def _status_becomes(url: str, order_id: str, status: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while (current := httpx.get(f"{url}/{order_id}").json()["status"]) != status:
        assert time.monotonic() < deadline, f"{order_id} stuck at {current}"
        time.sleep(0.2)


def test_dev_runs_the_lifecycle_and_a_restart_strands_nothing(dev_env: dict[str, str]) -> None:
    with running_dev(dev_env) as url:
        created = httpx.post(f"{url}/", json=order_body())
        assert created.status_code == 201
        in_flight = created.json()["id"]
    with running_dev(dev_env) as url:
        assert httpx.get(f"{url}/{in_flight}").json()["status"] == "CREATED"
        _status_becomes(url, in_flight, "SHIPPED")
        fresh = httpx.post(f"{url}/", json=order_body()).json()["id"]
        _status_becomes(url, fresh, "SHIPPED")
        assert httpx.get(f"{url}/readyz").status_code == 200
