"""`orders dev` on its own ports and state folder: it starts, serves, and stops cleanly."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port, order_body, wait_until_answering


@pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")), reason="exercises the embedded database"
)
def test_dev_runs_the_system_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    http_port = free_port()
    env = {
        **os.environ,
        "ORDERS_STATE_DIR": str(tmp_path / "state"),
        "ORDERS_HTTP_PORT": str(http_port),
        "ORDERS_PG_PORT": str(free_port()),
    }
    env.pop("DATABASE_URL", None)
    dev = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "dev"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{http_port}"
        wait_until_answering(f"{url}/healthz", timeout=60)
        created = httpx.post(f"{url}/", json=order_body())
        assert created.status_code == 201
        assert httpx.get(f"{url}/readyz").status_code == 200
    finally:
        dev.send_signal(signal.SIGINT)
        output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0
    assert f"orders_http   http://127.0.0.1:{http_port}/" in output
    assert not (tmp_path / "state" / "pgdata" / "postmaster.pid").exists(), "postgres left running"
