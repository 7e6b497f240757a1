"""What `orders dev` does before it starts a function: its state folder's lock taken, every
port checked, the database and the broker (embedded unless given), and the keys of HTTPS and
of event auth."""

import fcntl
import os
import ssl
import time
from contextlib import ExitStack
from pathlib import Path

from shared.local.broker import BrokerFailed, EmbeddedBroker
from shared.local.ports import Port
from shared.local.postgres import EmbeddedPostgres
from shared.local.topology import FUNCTIONS, listen_host

STATE_DIR = Path(os.environ.get("ORDERS_STATE_DIR", ".orders"))

# Below Linux's ephemeral range (32768-60999), where an outgoing connection may hold a port.
DEFAULT_PG_PORT = 15432
DEFAULT_BROKER_PORT = 9092


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
