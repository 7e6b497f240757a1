"""`orders dev`: the whole system on one machine, each function its own process.

One run per state folder (a lock in it, released by the kernel however the run ends); every
port checked before anything starts; "ready" once every function answers and the eventing
stand-in consumes; Ctrl-C, SIGTERM and a closed terminal (SIGHUP) all stop everything, the
eventing first, so that nothing is delivered to a function on its way out.
"""

import asyncio
import fcntl
import http.client
import os
import signal
import ssl
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from shared.domain.events import ALL_TOPICS
from shared.local.broker import BrokerFailed, EmbeddedBroker
from shared.local.children import child_options
from shared.local.ports import Port, PortTaken, check_free, listens_on
from shared.local.postgres import EmbeddedPostgres
from shared.local.postgres_install import PostgresFailed
from shared.local.topology import (
    FUNCTIONS,
    LISTEN_HOST_VARIABLE,
    WILDCARDS,
    FunctionProcess,
    connect_host,
    listen_host,
)

STATE_DIR = Path(os.environ.get("ORDERS_STATE_DIR", ".orders"))
LOCAL_PARTITIONS = 3
# Below Linux's ephemeral range (32768-60999), where an outgoing connection may hold a port.
DEFAULT_PG_PORT = 15432
DEFAULT_BROKER_PORT = 9092
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 10.0


class StartFailed(Exception):
    """An expected reason not to start (or to stop): said in one line, without a traceback."""


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable, str(default))
    try:
        return int(value)
    except ValueError:
        raise StartFailed(f"{variable} must be a port number, not {value!r}") from None


def _pg_port() -> int:
    return _port("ORDERS_PG_PORT", DEFAULT_PG_PORT)


def _broker_port() -> int:
    return _port("ORDERS_BROKER_PORT", DEFAULT_BROKER_PORT)


def _hold_the_lock(stack: ExitStack) -> None:
    """Take the state folder's lock, or say which run holds it. The kernel releases an flock
    with its last descriptor, so a run killed any way at all never blocks the next one."""
    fd = os.open(STATE_DIR / "dev.pid", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _pid_in(fd)
        os.close(fd)
        raise StartFailed(
            f"orders dev is already running with state folder {STATE_DIR} (pid {holder}); "
            "stop it first, or give this one its own ORDERS_STATE_DIR and ports"
        ) from None
    stack.callback(os.close, fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _pid_in(fd: int) -> str:
    deadline = time.monotonic() + 1  # the holder may have locked it and not written it yet
    while not (text := os.pread(fd, 32, 0).decode(errors="replace").strip()):
        if time.monotonic() > deadline:
            return "unknown"
        time.sleep(0.05)
    return text


def _ports_to_check() -> list[Port]:
    """Every port this run would listen on, with the variable that moves it."""
    ports: list[Port] = []
    if not os.environ.get("DATABASE_URL"):
        pg_port = _pg_port()
        if not EmbeddedPostgres(STATE_DIR / "pgdata", pg_port).left_running():
            ports.append(Port(pg_port, "ORDERS_PG_PORT"))
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        ports.append(Port(_broker_port(), "ORDERS_BROKER_PORT"))
    for function in FUNCTIONS:
        number = _port(function.port_variable, function.default_port)
        ports.append(Port(number, function.port_variable, listen_host()))
    return ports


def _database_url(stack: ExitStack) -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    postgres = EmbeddedPostgres(STATE_DIR / "pgdata", _pg_port())
    postgres.start()
    stack.callback(postgres.stop)
    postgres.create_database("orders")
    print(f"postgres      {postgres.dsn('orders')}  (embedded, data in {postgres.datadir})")
    return postgres.dsn("orders")


def _bootstrap_servers(stack: ExitStack) -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    broker = EmbeddedBroker(_broker_port(), supervised=True)
    try:
        broker.start()
    except BrokerFailed as exc:
        raise StartFailed(f"{exc} (ORDERS_BROKER_PORT moves it)") from None
    stack.callback(broker.stop)
    print(f"kafka         {broker.bootstrap_servers}  (embedded tansu, memory only)")
    return broker.bootstrap_servers


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


def _public_tls(env: dict[str, str]) -> tuple[dict[str, str], ssl.SSLContext | None]:
    """With TLS=1, orders_http serves HTTPS with a certificate signed by a local CA."""
    if os.environ.get("TLS", "") not in ("1", "true", "yes"):
        return {}, None
    from shared.local.tls import ensure_certificate

    local = ensure_certificate(STATE_DIR / "tls")
    print(f"tls           orders_http over HTTPS; trust {local.ca} (curl --cacert {local.ca})")
    trusting = ssl.create_default_context(cafile=str(local.ca))
    trusting.check_hostname = False  # the probe of readiness reaches it by address, whatever it is
    return {"SSL_CERTFILE": str(local.cert), "SSL_KEYFILE": str(local.key)}, trusting


def _event_auth() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """A fresh local issuer: per event function the settings that turn its sender check on,
    and for the dispatcher the key it signs its deliveries with (kept in the state folder)."""
    from shared.local.signing import LocalIssuer, event_function_env

    issuer = LocalIssuer.create(STATE_DIR / "eventing")
    print(
        f"event auth    on: sources sign with {issuer.key_file}; functions check {issuer.jwks_file}"
    )
    return event_function_env(issuer), issuer.dispatcher_env()


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


def _banner_line(running: _Running) -> str:
    line = f"{running.function.target:<13} {running.url}"
    if listen_host() in WILDCARDS:
        line += f"  (listening on {running.function.bound}; {LISTEN_HOST_VARIABLE})"
    elif listen_host() != "127.0.0.1":
        line += f"  ({LISTEN_HOST_VARIABLE})"
    return line


def _stop_requested(signum: int, frame: FrameType | None) -> Any:
    """The first stop signal stops everything; others while stopping change nothing."""
    for stop in STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    raise KeyboardInterrupt


def _start(stack: ExitStack) -> _Children:
    from shared.messaging.kafka import ensure_topics
    from shared.settings import Settings

    _hold_the_lock(stack)
    try:
        check_free(_ports_to_check())
    except PortTaken as exc:
        raise StartFailed(str(exc)) from None
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(stack),
        "KAFKA_BOOTSTRAP_SERVERS": _bootstrap_servers(stack),
        "ORDER_LOG_LEVEL": os.environ.get("ORDER_LOG_LEVEL", "INFO"),  # a line per step
    }
    settings = Settings(kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    asyncio.run(ensure_topics(settings, ALL_TOPICS, LOCAL_PARTITIONS))
    _run_to_end(env, "migrate")
    # The broker may be new and empty: put every order still on its way back on track.
    _run_to_end(env, "relay", "--redrive-all")
    children = _Children([])
    stack.callback(children.stop)
    tls_env, tls = _public_tls(env)
    checks, signing = _event_auth()
    for function in FUNCTIONS:
        public = function.target == "orders_http" and tls is not None
        own = {**(tls_env if public else {}), **checks.get(function.target, {})}
        process = _spawn(function, {**env, **own})
        children.functions.append(_Running(function, process, tls if public else None))
    children.dispatcher, consuming = _spawn_dispatcher({**env, **signing})
    stack.callback(os.close, consuming)
    _wait_until_ready(children, consuming)
    return children


def run() -> int:
    """Start everything, print where it runs, and stop it all on Ctrl-C, SIGTERM or SIGHUP."""
    # Explicit for all three: a shell starting us in the background would leave SIGINT ignored.
    for stop in STOP_SIGNALS:
        signal.signal(stop, _stop_requested)
    STATE_DIR.mkdir(exist_ok=True)
    try:
        with ExitStack() as stack:
            children = _start(stack)
            for running in children.functions:
                print(_banner_line(running))
            print("eventing      KafkaSources and PingSource from knative/ (orders dispatch)")
            print("ready; Ctrl-C stops everything", flush=True)
            while (exited := children.exited()) is None:
                time.sleep(0.5)
            print(f"{exited}; stopping the rest", file=sys.stderr, flush=True)
            return 1
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 0
    except (StartFailed, PostgresFailed) as exc:
        print(f"orders dev: {exc}", file=sys.stderr, flush=True)
        return 1
