"""The processes a benchmark measures: database, broker, functions and the three references."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg
import httpx

from shared.domain.events import ALL_TOPICS
from shared.local.broker import EmbeddedBroker
from shared.local.postgres import EmbeddedPostgres
from shared.local.postgres_leftovers import scratch_folder
from tests.support import ROOT, free_port

REFERENCES = {"raw": "raw_asyncpg", "peer": "fastapi_sqlmodel", "framework": "ff_sqlmodel"}
BASELINE_TABLE = """
CREATE TABLE IF NOT EXISTS baseline_orders (
  id uuid PRIMARY KEY, customer_id text NOT NULL, items jsonb NOT NULL,
  total_cents bigint NOT NULL, status text NOT NULL DEFAULT 'CREATED',
  version int NOT NULL DEFAULT 1, created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now())"""


@contextmanager
def database_and_broker(workdir: Path) -> Iterator[dict[str, str]]:
    """A fresh embedded PostgreSQL (migrated) and broker: the environment naming both."""
    from shared.messaging.kafka import ensure_topics
    from shared.settings import Settings

    with ExitStack() as stack:
        data = stack.enter_context(scratch_folder()) / "pgdata"  # the database user's own
        postgres = EmbeddedPostgres(data, free_port())
        postgres.start()
        stack.callback(postgres.stop)
        postgres.create_database("orders")
        broker = EmbeddedBroker(free_port())
        broker.start()
        stack.callback(broker.stop)
        env = {
            **os.environ,
            "DATABASE_URL": postgres.dsn("orders"),
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        }
        settings = Settings(kafka_bootstrap_servers=broker.bootstrap_servers)
        asyncio.run(ensure_topics(settings, ALL_TOPICS, 3))
        subprocess.run([sys.executable, "-m", "shared.cli", "migrate"], env=env, check=True)
        asyncio.run(_execute(postgres.dsn("orders"), BASELINE_TABLE))
        yield env


async def _execute(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def function_command(target: str) -> list[str]:
    """The image's start command for one function (`orders serve`, FUNCTION_TARGET)."""
    return [sys.executable, "-m", "shared.cli", "serve", target]


def reference_command(name: str, port: int) -> list[str]:
    if name == "framework":
        # As the framework documents it: its own command (gunicorn, one uvicorn worker).
        source = f"tests/load/references/{REFERENCES[name]}.py"
        command = [str(Path(sys.executable).parent / "functions-framework"), "--asgi"]
        command += ["--target", "orders", "--source", source]
        return [*command, "--host", "127.0.0.1", "--port", str(port)]
    module = f"tests.load.references.{REFERENCES[name]}:app"
    return [sys.executable, "-m", "uvicorn", module, "--port", str(port), "--log-level", "warning"]


def reference_env(env: dict[str, str]) -> dict[str, str]:
    dsn = env["DATABASE_URL"]
    alchemy = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    return {**env, "BASELINE_DSN": dsn, "BASELINE_SQLALCHEMY_URL": alchemy}


def start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env={**env, "PORT": str(port), "HOST": "127.0.0.1"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def first_answer(command: list[str], env: dict[str, str], url: str, port: int) -> tuple[float, int]:
    """Seconds from process start to the first HTTP answer from `url`, and then its RSS (KiB)."""
    # One client, made before the clock starts: `httpx.get` builds a client (and its TLS
    # context) per call, 24 ms of CPU a poll, which competed with the process being timed.
    with httpx.Client(timeout=5) as client:
        started = time.perf_counter()
        process = start(command, env, port)
        try:
            while time.perf_counter() - started < 60:
                try:
                    client.get(url)
                    break
                except httpx.TransportError:
                    time.sleep(0.005)
            elapsed = time.perf_counter() - started
            return elapsed, rss_kib(process.pid)
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its descendants (gunicorn's worker under its arbiter),
    pages a fork shares counted once: the process's RSS plus each descendant's private pages."""
    total = _kib_field(Path(f"/proc/{pid}/status"), "VmRSS:")
    for child in _descendants(pid):
        rollup = Path(f"/proc/{child}/smaps_rollup")
        total += _kib_field(rollup, "Private_Clean:") + _kib_field(rollup, "Private_Dirty:")
    return total


def _kib_field(path: Path, name: str) -> int:
    try:
        lines = path.read_text().splitlines()
    except OSError:  # the process has just ended
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith(name)), 0)


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, waiting = [], list(parents.get(pid, []))
    while waiting:
        child = waiting.pop()
        found.append(child)
        waiting += parents.get(child, [])
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
