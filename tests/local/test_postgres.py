"""The embedded PostgreSQL as a neighbour: run by root from a private checkout it changes no
folder's mode, it asks every client for its password, its processes hold no root group, a
server left running by a killed run is taken over, and a failure says pg_ctl's reason."""

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.local.postgres import EmbeddedPostgres
from shared.local.postgres_install import PostgresFailed
from tests.support import ROOT, free_port

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the database runs as another user")


def _select_one(dsn: str) -> int:
    async def select() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            value: int = await conn.fetchval("SELECT 1")
            return value
        finally:
            await conn.close()

    return asyncio.run(select())


def _postmaster_pid(postgres: EmbeddedPostgres) -> int:
    return int((postgres.datadir / "postmaster.pid").read_text().split()[0])


def _modes(path: Path) -> dict[Path, int]:
    return {folder: folder.stat().st_mode for folder in (path, *path.parents)}


@pytest.fixture
def home() -> Iterator[Path]:
    """A private folder, as root's home is (0700), right under the system's temporary folder:
    tmp_path's own parents are shared with other runs, which may change their modes meanwhile."""
    folder = Path(tempfile.mkdtemp(prefix="orders-home-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@as_root
def test_a_private_checkout_keeps_its_modes_and_its_data(home: Path) -> None:
    assert home.stat().st_mode & 0o777 == 0o700
    checkout = home / "p"
    (checkout / ".orders").mkdir(parents=True)
    before = _modes(checkout / ".orders")
    asked = checkout / ".orders" / "pgdata"
    postgres = EmbeddedPostgres(asked, free_port())
    try:
        postgres.start()
        postgres.create_database("orders")
        assert _select_one(postgres.dsn("orders")) == 1
        postgres.stop()
        again = EmbeddedPostgres(asked, postgres.port)
        again.start()
        assert _select_one(again.dsn("orders")) == 1, "the data did not survive a restart"
        again.stop()
        assert _modes(checkout / ".orders") == before
        assert home.stat().st_mode & 0o777 == 0o700
        assert (postgres.password_file.stat().st_mode & 0o777) == 0o600
        assert postgres.password_file.parent == asked.parent
    finally:
        if postgres.is_running():
            postgres.stop()
        subprocess.run(
            [sys.executable, "-m", "shared.local.postgres", "forget", str(asked)],
            cwd=ROOT,
            check=True,
        )
    assert not postgres.datadir.exists(), "forget (make clean) left the data behind"


@as_root
def test_another_user_needs_the_password(scratch: Path) -> None:
    postgres = EmbeddedPostgres(scratch / "data", free_port())
    postgres.start()
    try:
        nobody = pwd.getpwnam("nobody")

        def psql_as_nobody(password: str | None, host: str = postgres.host) -> str:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            if password is not None:
                env["PGPASSWORD"] = password
            where = ["-h", host, "-p", str(postgres.port), "-U", "postgres", "-d", "postgres"]
            done = subprocess.run(
                [str(postgres.program("psql")), "-w", *where, "-At", "-c", "SELECT current_user"],
                user=nobody.pw_uid,
                group=nobody.pw_gid,
                extra_groups=[],
                env=env,
                cwd="/",
                capture_output=True,
                text=True,
            )
            return done.stdout + done.stderr

        assert "postgres" not in psql_as_nobody(None).split(), "connected without a password"
        assert "password authentication failed" in psql_as_nobody("wrong")
        assert psql_as_nobody(postgres.password).split() == ["postgres"]
        socket_dir = Path((postgres.datadir / "postmaster.pid").read_text().splitlines()[4])
        assert socket_dir.stat().st_mode & 0o777 == 0o700
        assert "postgres" not in psql_as_nobody(postgres.password, str(socket_dir)).split()
    finally:
        postgres.stop()


@as_root
def test_the_server_holds_no_root_group(scratch: Path) -> None:
    postgres = EmbeddedPostgres(scratch / "data", free_port())
    postgres.start()
    try:
        status = Path(f"/proc/{_postmaster_pid(postgres)}/status").read_text().splitlines()
        fields = {line.split(":")[0]: line.split(":")[1].split() for line in status}
        assert "0" not in fields["Gid"], fields["Gid"]
        assert "0" not in fields["Groups"], fields["Groups"]
        assert "0" not in fields["Uid"], fields["Uid"]
    finally:
        postgres.stop()


def test_a_server_left_running_is_taken_over(scratch: Path) -> None:
    port = free_port()
    left = EmbeddedPostgres(scratch / "data", port)
    left.start()
    pid = _postmaster_pid(left)
    del left  # as a SIGKILLed `make dev` leaves it: running, never stopped
    same = EmbeddedPostgres(scratch / "data", port)
    same.start()
    assert _postmaster_pid(same) == pid, "the server listening where asked was not reused"
    assert _select_one(same.dsn()) == 1
    moved = EmbeddedPostgres(scratch / "data", free_port())
    moved.start()
    try:
        assert _postmaster_pid(moved) != pid
        assert _select_one(moved.dsn()) == 1
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", same.port), timeout=2).close()
    finally:
        moved.stop()


def test_a_killed_server_leaves_a_pid_file_that_does_not_stop_the_next(scratch: Path) -> None:
    postgres = EmbeddedPostgres(scratch / "data", free_port())
    postgres.start()
    pid = _postmaster_pid(postgres)
    children = [int(child) for child in _children(pid)]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{child}").exists() for child in [pid, *children]):
        assert time.monotonic() < deadline, "the server's processes outlived it"
        time.sleep(0.1)
    assert (postgres.datadir / "postmaster.pid").exists()
    postgres.start()
    try:
        assert _select_one(postgres.dsn()) == 1
    finally:
        postgres.stop()


def _children(pid: int) -> list[str]:
    tasks = Path(f"/proc/{pid}/task")
    return [
        child
        for task in tasks.iterdir()
        for child in (task / "children").read_text().split()
        if (task / "children").exists()
    ]


def test_a_failing_pg_ctl_says_why(scratch: Path) -> None:
    with socket.socket() as taken:
        port = free_port()
        taken.bind(("127.0.0.1", port))
        taken.listen()
        postgres = EmbeddedPostgres(scratch / "data", port)
        with pytest.raises(PostgresFailed) as failed:
            postgres.start()
    message = str(failed.value)
    assert "Address already in use" in message, message
    assert len(message.splitlines()) <= 5


def test_a_data_folder_that_trusted_everyone_keeps_its_data_and_asks_a_password(
    scratch: Path,
) -> None:
    port = free_port()
    first = EmbeddedPostgres(scratch / "data", port)
    first.start()

    async def keep_a_row() -> None:
        conn = await asyncpg.connect(first.dsn())
        await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        await conn.close()

    asyncio.run(keep_a_row())
    first.stop()
    # As an earlier version left it: no password, every local connection trusted.
    first.password_file.unlink()
    hba = first.datadir / "pg_hba.conf"
    hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))

    again = EmbeddedPostgres(scratch / "data", port)
    again.start()
    try:

        async def read(dsn: str) -> int:
            conn = await asyncpg.connect(dsn)
            try:
                value: int = await conn.fetchval("SELECT n FROM kept")
                return value
            finally:
                await conn.close()

        assert asyncio.run(read(again.dsn())) == 42
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(read(f"postgresql://postgres:wrong@127.0.0.1:{port}/postgres"))
    finally:
        again.stop()
