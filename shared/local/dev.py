"""`orders dev`: the whole system on one machine, each function its own process."""

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from shared.local.postgres import EmbeddedPostgres

STATE_DIR = Path(os.environ.get("ORDERS_STATE_DIR", ".orders"))


@dataclass(frozen=True)
class FunctionProcess:
    target: str
    port_variable: str
    default_port: int

    @property
    def port(self) -> int:
        return int(os.environ.get(self.port_variable, self.default_port))


HTTP_FUNCTION = FunctionProcess("orders_http", "ORDERS_HTTP_PORT", 8080)
FUNCTIONS = (HTTP_FUNCTION,)


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


def _spawn(function: FunctionProcess, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", function.target],
        env={**env, "PORT": str(function.port), "HOST": os.environ.get("HOST", "127.0.0.1")},
    )


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
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    STATE_DIR.mkdir(exist_ok=True)
    with ExitStack() as stack:
        env = {**os.environ, "DATABASE_URL": _database_url(stack)}
        subprocess.run([sys.executable, "-m", "shared.cli", "migrate"], env=env, check=True)
        processes: list[subprocess.Popen[bytes]] = []
        stack.callback(_stop, processes)
        for function in FUNCTIONS:
            processes.append(_spawn(function, env))
            print(f"{function.target:<13} http://127.0.0.1:{function.port}/")
        print("ready; Ctrl-C stops everything", flush=True)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("stopping", flush=True)
            return 0
        print("a function exited; stopping the rest", file=sys.stderr)
        return 1
    return 0
