"""`orders dev` on its own ports and state folder: it runs the whole lifecycle (over HTTPS with
TLS=1), stops cleanly, and after a restart (with a new, empty broker) puts every order still on
its way back on track."""

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, binary_headers, free_port, order_body

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
    reason="exercises the embedded database and broker",
)
PORTS = ("ORDERS_HTTP_PORT", "CONFIRM_PORT", "SHIP_PORT", "OUTBOX_RELAY_PORT")


def dev_environment(scratch: Path) -> dict[str, str]:
    """The environment of an `orders dev` of its own: state folder and every port."""
    env = {
        **os.environ,
        "ORDERS_STATE_DIR": str(scratch / "state"),  # where the database's user reaches it
        "ORDERS_PG_PORT": str(free_port()),
        "ORDERS_BROKER_PORT": str(free_port()),
        "CONFIRM_DELAY_SECONDS": "3",
        "SHIP_DELAY_SECONDS": "0.2",
        **{name: str(free_port()) for name in PORTS},
    }
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TLS"):
        env.pop(name, None)
    return env


@pytest.fixture
def dev_env(scratch: Path) -> dict[str, str]:
    return dev_environment(scratch)


@contextmanager
def running_dev(env: dict[str, str]) -> Iterator[httpx.Client]:
    """`orders dev` running; a client for its orders_http (HTTPS trusting the local CA with TLS=1)."""
    tls = env.get("TLS") == "1"
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{env['ORDERS_HTTP_PORT']}"
    ca = Path(env["ORDERS_STATE_DIR"]) / "tls" / "ca.pem"
    dev = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "dev"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert dev.stdout is not None
    started: list[str] = []
    try:
        # "ready" promises every function answers and the eventing consumes: nothing to poll.
        while not (line := dev.stdout.readline()).startswith("ready"):
            assert line, f"exited before ready: {''.join(started)}"
            started.append(line)
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if tls else True
        with httpx.Client(base_url=url, verify=verify) as client:
            yield client
    finally:
        dev.send_signal(signal.SIGINT)
        rest, _ = dev.communicate(timeout=60)
    output = "".join(started) + rest
    assert dev.returncode == 0
    assert f"orders_http   {url}/" in output
    assert f"confirm       http://127.0.0.1:{env['CONFIRM_PORT']}/" in output
    assert not (Path(env["ORDERS_STATE_DIR"]) / "pgdata" / "postmaster.pid").exists(), (
        "postgres left running"
    )


def _status_becomes(client: httpx.Client, order_id: str, status: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while (current := client.get(f"/{order_id}").json()["status"]) != status:
        assert time.monotonic() < deadline, f"{order_id} stuck at {current}"
        time.sleep(0.2)


def test_dev_runs_the_lifecycle_and_a_restart_strands_nothing(dev_env: dict[str, str]) -> None:
    with running_dev({**dev_env, "TLS": "1"}) as client:
        created = client.post("/", json=order_body())
        assert created.status_code == 201
        in_flight = created.json()["id"]
    with running_dev(dev_env) as client:
        # Stopped in its delay, it may already move on before "ready" (the eventing consumes).
        assert client.get(f"/{in_flight}").status_code == 200
        _status_becomes(client, in_flight, "SHIPPED")
        fresh = client.post("/", json=order_body()).json()["id"]
        _status_becomes(client, fresh, "SHIPPED")
        assert client.get("/readyz").status_code == 200
        _refuses_an_unsigned_ping(dev_env)


def _refuses_an_unsigned_ping(env: dict[str, str]) -> None:
    """The lifecycle above ran on signed deliveries: the check is on, an unsigned ping is a 401."""
    ping = binary_headers(
        {
            "specversion": "1.0",
            "id": "forged",
            "type": "dev.knative.sources.ping",
            "source": "/apis/v1/namespaces/orders/pingsources/outbox-relay-tick",
        }
    )
    relay = f"http://127.0.0.1:{env['OUTBOX_RELAY_PORT']}/"
    assert httpx.post(relay, content=b"{}", headers=ping).status_code == 401
    key = Path(env["ORDERS_STATE_DIR"]) / "eventing" / "signing-key.pem"
    assert key.stat().st_mode & 0o077 == 0, "the signing key is its owner's only"
