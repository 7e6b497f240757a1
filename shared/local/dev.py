"""`orders dev`: the whole system on one machine, each function its own process."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from shared.events import ALL_TOPICS
from shared.local.broker import EmbeddedBroker
from shared.local.postgres import EmbeddedPostgres
from shared.local.topology import FUNCTIONS, FunctionProcess

STATE_DIR = Path(os.environ.get("ORDERS_STATE_DIR", ".orders"))
LOCAL_PARTITIONS = 3


def _database_url(stack: ExitStack) -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    port = int(os.environ.get("ORDERS_PG_PORT", "54329"))
    postgres = EmbeddedPostgres(STATE_DIR / "pgdata", port)
    postgres.start()
    stack.callback(postgres.stop)
    postgres.create_database("orders")
    print(f"postgres      {postgres.dsn('orders')}  (embedded, data in {STATE_DIR}/pgdata)")
    return postgres.dsn("orders")


def _bootstrap_servers(stack: ExitStack) -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    broker = EmbeddedBroker(int(os.environ.get("ORDERS_BROKER_PORT", "9092")))
    broker.start()
    stack.callback(broker.stop)
    print(f"kafka         {broker.bootstrap_servers}  (embedded tansu, memory only)")
    return broker.bootstrap_servers


def _orders(*args: str) -> list[str]:
    return [sys.executable, "-m", "shared.cli", *args]


def _spawn(function: FunctionProcess, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _orders("serve", function.target),
        env={**env, "PORT": str(function.port), "HOST": os.environ.get("HOST", "127.0.0.1")},
    )


def _public_tls(env: dict[str, str]) -> dict[str, str]:
    """With TLS=1, orders_http serves HTTPS with a certificate signed by a local CA."""
    if os.environ.get("TLS", "") not in ("1", "true", "yes"):
        return {}
    from shared.local.tls import ensure_certificate

    local = ensure_certificate(STATE_DIR / "tls")
    print(f"tls           orders_http over HTTPS; trust {local.ca} (curl --cacert {local.ca})")
    return {"SSL_CERTFILE": str(local.cert), "SSL_KEYFILE": str(local.key)}


def _event_auth() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """A fresh local issuer: per event function the settings that turn its sender check on,
    and for the dispatcher the key it signs its deliveries with (kept in the state folder)."""
    from shared.local.signing import LocalIssuer, event_function_env

    issuer = LocalIssuer.create(STATE_DIR / "eventing")
    print(
        f"event auth    on: sources sign with {issuer.key_file}; functions check {issuer.jwks_file}"
    )
    return event_function_env(issuer), issuer.dispatcher_env()


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def run() -> int:
    """Start everything, print where it runs, and stop it all on Ctrl-C or SIGTERM."""
    from shared.kafka import ensure_topics
    from shared.settings import Settings

    # Explicit for both: a shell starting us in the background would leave SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    STATE_DIR.mkdir(exist_ok=True)
    with ExitStack() as stack:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(stack),
            "KAFKA_BOOTSTRAP_SERVERS": _bootstrap_servers(stack),
            "ORDER_LOG_LEVEL": os.environ.get("ORDER_LOG_LEVEL", "INFO"),  # a line per step
        }
        settings = Settings(kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
        asyncio.run(ensure_topics(settings, ALL_TOPICS, LOCAL_PARTITIONS))
        subprocess.run(_orders("migrate"), env=env, check=True)
        # The broker may be new and empty: put every order still on its way back on track.
        subprocess.run(_orders("relay", "--redrive-all"), env=env, check=True)
        processes: list[subprocess.Popen[bytes]] = []
        stack.callback(_stop, processes)
        tls = _public_tls(env)
        checks, signing = _event_auth()
        for function in FUNCTIONS:
            public = function.target == "orders_http" and tls
            own = {**(tls if public else {}), **checks.get(function.target, {})}
            processes.append(_spawn(function, {**env, **own}))
            url = function.url.replace("http://", "https://") if public else function.url
            print(f"{function.target:<13} {url}")
        processes.append(subprocess.Popen(_orders("dispatch"), env={**env, **signing}))
        print("eventing      KafkaSources and PingSource from knative/ (orders dispatch)")
        print("ready; Ctrl-C stops everything", flush=True)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("stopping", flush=True)
            return 0
        print("a process exited; stopping the rest", file=sys.stderr)
        return 1
    return 0
