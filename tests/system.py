"""The whole system as separate processes (the four functions and the local eventing)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from shared.local.topology import FUNCTIONS
from tests.support import ROOT, free_port, wait_until_answering


class LocalSystem:
    def __init__(
        self,
        database_url: str,
        bootstrap_servers: str,
        **settings: str,
    ) -> None:
        self.log: Path | None = None  # when set, every process started writes its output here
        # When set, settings of one process only (e.g. each event function's token audience).
        self.function_env: Mapping[str, Mapping[str, str]] = {}
        self.dispatcher_env: Mapping[str, str] = {}
        self.ports = {function.target: free_port() for function in FUNCTIONS}
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            **{f.port_variable: str(self.ports[f.target]) for f in FUNCTIONS},
            "RELAY_INTERVAL_SECONDS": "1",
            "RELAY_MIN_AGE_SECONDS": "1",
            **settings,
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.ports[target]}"

    def start_function(self, target: str) -> None:
        env = {
            **self.env,
            **self.function_env.get(target, {}),
            "PORT": str(self.ports[target]),
            "HOST": "127.0.0.1",
        }
        self.processes[target] = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve", target],
            env=env,
            cwd=ROOT,
            **self._output(),
        )
        wait_until_answering(f"{self.url(target)}/healthz", process=self.processes[target])

    def start_dispatcher(self) -> None:
        self.processes["dispatch"] = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "dispatch"],
            env={**self.env, **self.dispatcher_env},
            cwd=ROOT,
            **self._output(),
        )

    def _output(self) -> dict[str, Any]:
        if self.log is None:
            return {}
        sink = self.log.open("ab")
        return {"stdout": sink, "stderr": subprocess.STDOUT}

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # Killed for good, so that a slow stop never leaves a process to the next test;
            # the stop that took too long still fails this one.
            process.kill()
            process.wait()
            raise

    def __enter__(self) -> "LocalSystem":
        for function in FUNCTIONS:
            self.start_function(function.target)
        self.start_dispatcher()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        slow: list[subprocess.TimeoutExpired] = []
        for name in list(self.processes):
            try:
                self.kill(name, signal.SIGTERM)
            except subprocess.TimeoutExpired as exc:  # the others are stopped all the same
                slow.append(exc)
        if slow:
            raise slow[0]

    def wait_for_status(
        self, order_ids: list[str], status: str, within: float = 90.0
    ) -> dict[str, dict[str, object]]:
        """The orders, once every one of them has `status` (fails after `within` seconds)."""
        return self.wait_for_status_with({}, order_ids, status, within)

    def wait_for_status_with(
        self, headers: dict[str, str], order_ids: list[str], status: str, within: float = 90.0
    ) -> dict[str, dict[str, object]]:
        """`wait_for_status`, reading the orders with these request headers (e.g. a token)."""
        deadline = time.monotonic() + within
        while True:
            orders = {
                i: httpx.get(f"{self.url('orders_http')}/{i}", headers=headers, timeout=10).json()
                for i in order_ids
            }
            late = [i for i, order in orders.items() if order.get("status") != status]
            if not late:
                return orders
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(late)} orders never reached {status}: {[orders[i] for i in late[:3]]}"
                )
            time.sleep(0.2)
