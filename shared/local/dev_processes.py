"""`orders dev`'s processes: the one-off `orders` commands run to their end, the functions and
the eventing stand-in spawned, waited for until each is ready, and stopped."""

import http.client
import os
import signal
import ssl
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass

from shared.local.children import child_options
from shared.local.dev_setup import StartFailed
from shared.local.ports import listens_on
from shared.local.topology import FunctionProcess, connect_host, listen_host

READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 10.0


def _orders(*args: str) -> list[str]:
    return [sys.executable, "-m", "shared.cli", *args]


def _run_to_end(env: dict[str, str], *args: str) -> None:
    """A one-off `orders` command, out of the terminal's process group like the others."""
    done = subprocess.run(_orders(*args), env=env, process_group=0, check=False)
    if done.returncode != 0:
        raise StartFailed(f"orders {' '.join(args)} failed (exit code {done.returncode})")


@dataclass
class _Running:
    function: FunctionProcess
    process: subprocess.Popen[bytes]
    tls: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        url = self.function.url
        return url.replace("http://", "https://") if self.tls is not None else url

    def answers(self) -> bool:
        """Its /healthz answers 200, from this very process (not a program that took the port)."""
        host, port = connect_host(), self.function.port
        connection: http.client.HTTPConnection
        if self.tls is not None:
            connection = http.client.HTTPSConnection(host, port, timeout=1, context=self.tls)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            healthy = connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
        return healthy and listens_on(self.process.pid, port) is not False


@dataclass
class _Children:
    functions: list[_Running]
    dispatcher: subprocess.Popen[bytes] | None = None

    def processes(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        named = [(running.function.target, running.process) for running in self.functions]
        if self.dispatcher is not None:
            named.append(("orders dispatch", self.dispatcher))
        return named

    def exited(self) -> str | None:
        for name, process in self.processes():
            if process.poll() is not None:
                return f"{name} exited (exit code {process.returncode})"
        return None

    def stop(self) -> None:
        """The eventing first (its deliveries in flight are left uncommitted, so they come
        again), then the functions (each abandons the events it still holds)."""
        if self.dispatcher is not None:
            _terminate([self.dispatcher])
        _terminate([running.process for running in self.functions])


def _terminate(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _spawn(function: FunctionProcess, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # The host is passed explicitly: `orders serve` alone listens on every interface (as in
    # the image), and a `HOST` exported by the user's shell must not widen `orders dev`.
    return subprocess.Popen(
        _orders("serve", function.target),
        env={**env, "PORT": str(function.port), "HOST": listen_host()},
        **child_options(),
    )


def _spawn_dispatcher(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """`orders dispatch`, and the read end of the pipe it says "consuming" on."""
    readable, writable = os.pipe()
    try:
        dispatcher = subprocess.Popen(
            _orders("dispatch"),
            env={**env, "ORDERS_DISPATCH_READY_FD": str(writable)},
            pass_fds=(writable,),
            **child_options(),
        )
    finally:
        os.close(writable)
    os.set_blocking(readable, False)
    return dispatcher, readable


def _wait_until_ready(children: _Children, consuming: int) -> None:
    """Until every function answers its /healthz and the dispatcher consumes."""
    waiting = {running.function.target: running for running in children.functions}
    dispatcher_consumes = False
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while waiting or not dispatcher_consumes:
        if (exited := children.exited()) is not None:
            raise StartFailed(f"{exited} while starting; see its lines above")
        for target, running in list(waiting.items()):
            if running.answers():
                del waiting[target]
        if not dispatcher_consumes:
            with suppress(BlockingIOError):
                dispatcher_consumes = bool(os.read(consuming, 64))
        if time.monotonic() > deadline:
            late = [*waiting, *([] if dispatcher_consumes else ["orders dispatch"])]
            raise StartFailed(
                f"not ready within {READY_TIMEOUT_SECONDS:.0f} s: {', '.join(late)} "
                "(see the lines above)"
            )
        time.sleep(0.05)
