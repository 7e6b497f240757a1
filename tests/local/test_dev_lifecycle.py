"""`orders dev` as a neighbour: stopped by a hang-up, alone on its state folder, never on a port
(or a broker) of someone else's, on loopback whatever `HOST` says, "ready" only when it is, and
stopped at once and quietly with an order inside its delay, which still ships after a restart.

Real processes, signals and ports. Stop times are printed (run with -s), never asserted.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from shared.local.broker import EmbeddedBroker
from tests.support import ROOT, order_body, wait_until_answering
from tests.test_dev import PORTS, _status_becomes, dev_environment

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
    reason="exercises the embedded database and broker",
)
STARTS_WITHIN = 90.0
STOPS_WITHIN = 60.0


STARTED: list["Dev"] = []


class Dev:
    """One `orders dev`, in a session of its own as under a terminal, its output in files."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        STARTED.append(self)
        self.env = env
        logs.mkdir(parents=True, exist_ok=True)
        self._stdout = logs / f"stdout-{time.monotonic_ns()}"
        self._stderr = self._stdout.with_name(self._stdout.name.replace("stdout", "stderr"))
        with self._stdout.open("wb") as out, self._stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shared.cli", "dev"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    @property
    def stdout(self) -> str:
        return self._stdout.read_text()

    @property
    def stderr(self) -> str:
        return self._stderr.read_text()

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTS_WITHIN
        while "\nready;" not in self.stdout:
            assert self.process.poll() is None, f"exited: {self.stdout}{self.stderr}"
            assert time.monotonic() < deadline, f"never ready: {self.stdout}{self.stderr}"
            time.sleep(0.02)

    def exit_code(self) -> int:
        return self.process.wait(timeout=STOPS_WITHIN)

    def started_pids(self) -> set[int]:
        """Every process it started: its descendants, and the PostgreSQL it runs (pg_ctl
        detaches the server)."""
        pids = descendants(self.process.pid)
        postmaster = Path(self.env["ORDERS_STATE_DIR"]) / "pgdata" / "postmaster.pid"
        with suppress(OSError, ValueError, IndexError):
            pid = int(postmaster.read_text().splitlines()[0])
            if self.env["ORDERS_STATE_DIR"] in Path(f"/proc/{pid}/cmdline").read_text():
                pids.add(pid)
        return pids

    def stop(self, signum: int, group: bool = True) -> float:
        """Signal it (its whole process group, as a terminal does, or itself alone, as `kill`
        does); seconds until it exited."""
        started = time.monotonic()
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        self.exit_code()
        return time.monotonic() - started


def descendants(root: int) -> set[int]:
    children: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, set()).add(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), set()) - found:
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int], within: float = 10.0) -> set[int]:
    """Those of `pids` still running after `within` seconds (zombies count as gone)."""
    deadline = time.monotonic() + within
    while True:
        running = {pid for pid in pids if _running(pid)}
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp writes them) that listen on TCP `port`."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                addresses.add(address)
    return addresses


def quiet(output: str) -> bool:
    return '"level":"ERROR"' not in output and "Traceback" not in output


@pytest.fixture
def env(scratch: Path) -> Iterator[dict[str, str]]:
    environment = dev_environment(scratch)
    environment.pop("ORDERS_LISTEN_HOST", None)
    yield environment
    _leave_nothing_running()


def _leave_nothing_running() -> None:
    """Whatever a failed test left (a run that never stopped, its PostgreSQL) is stopped."""
    while STARTED:
        dev = STARTED.pop()
        pids = dev.started_pids() | {dev.process.pid}
        if dev.process.poll() is None:
            os.killpg(dev.process.pid, signal.SIGTERM)
            try:
                dev.process.wait(timeout=STOPS_WITHIN)
            except subprocess.TimeoutExpired:
                os.killpg(dev.process.pid, signal.SIGKILL)
        for pid in alive(pids, within=0):  # SIGINT: PostgreSQL's fast shutdown
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)


@contextmanager
def dev_running(env: dict[str, str], logs: Path) -> Iterator[Dev]:
    dev = Dev(env, logs)
    try:
        dev.wait_until_ready()
        yield dev
    finally:
        if dev.process.poll() is None:
            dev.stop(signal.SIGTERM)


def test_a_hang_up_stops_everything_and_the_next_start_works(
    env: dict[str, str], tmp_path: Path
) -> None:
    with dev_running(env, tmp_path / "logs") as dev:
        started = dev.started_pids()
        assert len(started) >= 7, "4 functions, the dispatcher, the broker and PostgreSQL"
        dev.stop(signal.SIGHUP)
    assert dev.exit_code() == 0
    assert alive(started) == set(), dev.stdout + dev.stderr
    with dev_running(env, tmp_path / "logs") as again:
        url = f"http://127.0.0.1:{env['ORDERS_HTTP_PORT']}"
        assert httpx.post(f"{url}/", json=order_body()).status_code == 201
    assert again.exit_code() == 0


def test_a_second_run_on_the_same_state_folder_names_the_first(
    env: dict[str, str], tmp_path: Path
) -> None:
    with dev_running(env, tmp_path / "logs") as first:
        second = Dev(env, tmp_path / "logs")
        assert second.exit_code() != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert "already running" in lines[0]
        assert f"pid {first.process.pid}" in lines[0]
        assert second.stdout == ""
        assert first.process.poll() is None
        healthz = f"http://127.0.0.1:{env['ORDERS_HTTP_PORT']}/healthz"
        assert httpx.get(healthz).status_code == 200


@contextmanager
def _held_by_a_socket(port: int) -> Iterator[None]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        yield


@contextmanager
def _held_by_a_broker(port: int) -> Iterator[None]:
    neighbour = EmbeddedBroker(port)
    neighbour.start()
    try:
        yield
    finally:
        neighbour.stop()


@pytest.mark.parametrize(
    ("variable", "holder"),
    [
        ("ORDERS_BROKER_PORT", _held_by_a_socket),
        ("ORDERS_BROKER_PORT", _held_by_a_broker),
        ("CONFIRM_PORT", _held_by_a_socket),
    ],
    ids=["broker-port-socket", "broker-port-another-broker", "function-port-socket"],
)
def test_a_port_held_by_another_program_fails_the_start_in_one_line(
    env: dict[str, str], tmp_path: Path, variable: str, holder: object
) -> None:
    port = int(env[variable])
    with holder(port):  # type: ignore[operator]
        dev = Dev(env, tmp_path / "logs")
        assert dev.exit_code() != 0
    lines = dev.stderr.strip().splitlines()
    assert len(lines) == 1, dev.stdout + dev.stderr
    assert f"port {port}" in lines[0]
    assert variable in lines[0]
    assert quiet(dev.stdout + dev.stderr)
    assert "ready" not in dev.stdout
    assert not (Path(env["ORDERS_STATE_DIR"]) / "pgdata" / "postmaster.pid").exists()
    others = ["ORDERS_PG_PORT", "ORDERS_BROKER_PORT", *PORTS]
    for other in others:
        if other != variable:
            assert listening_addresses(int(env[other])) == set(), f"{other} left listening"


def test_host_in_the_environment_leaves_the_functions_on_loopback(
    env: dict[str, str], tmp_path: Path
) -> None:
    loopback = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
    with dev_running({**env, "HOST": "0.0.0.0"}, tmp_path / "logs") as dev:  # nosec B104
        for variable in PORTS:  # waited for: this test is about where, not when
            wait_until_answering(f"http://127.0.0.1:{env[variable]}/healthz", timeout=30)
        for variable in PORTS:
            assert listening_addresses(int(env[variable])) == {loopback}, variable
        assert f"confirm       http://127.0.0.1:{env['CONFIRM_PORT']}/" in dev.stdout


def test_ready_means_every_function_answers(env: dict[str, str], tmp_path: Path) -> None:
    with dev_running(env, tmp_path / "logs"):
        answers = {
            variable: httpx.get(f"http://127.0.0.1:{env[variable]}/healthz", timeout=1).status_code
            for variable in PORTS
        }
    assert answers == dict.fromkeys(PORTS, 200)


def _delivered_to(port: int) -> bool:
    """A connection to `port` is open: the dispatcher delivered an event (nothing else
    connects to a step function, and its handler holds the event through its delay)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:  # 01: ESTABLISHED
            return True
    return False


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c-to-the-terminal-group", "sigterm-to-orders-dev"],
)
def test_a_stop_with_an_order_in_its_delay_is_prompt_and_quiet_and_the_order_ships(
    env: dict[str, str], tmp_path: Path, signum: int, group: bool
) -> None:
    waiting = {**env, "CONFIRM_DELAY_SECONDS": "60"}
    url = f"http://127.0.0.1:{env['ORDERS_HTTP_PORT']}"
    with dev_running(waiting, tmp_path / "logs") as dev:
        wait_until_answering(f"{url}/healthz", timeout=30)  # this test is about the stop
        order = httpx.post(f"{url}/", json=order_body()).json()["id"]
        deadline = time.monotonic() + 30
        while not _delivered_to(int(env["CONFIRM_PORT"])):
            assert time.monotonic() < deadline, "the order never reached confirm"
            time.sleep(0.05)
        time.sleep(0.5)
        started = dev.started_pids()
        seconds = dev.stop(signum, group)
    print(f"stop with an order in its delay ({signal.Signals(signum).name}): {seconds:.2f} s")
    assert dev.exit_code() == 0
    assert quiet(dev.stdout + dev.stderr), dev.stdout + dev.stderr
    assert alive(started) == set()
    with (
        dev_running({**env, "CONFIRM_DELAY_SECONDS": "0"}, tmp_path / "logs"),
        httpx.Client(base_url=url) as client,
    ):
        _status_becomes(client, order, "SHIPPED")
