"""An embedded PostgreSQL (the binaries shipped in the pgserver wheel) on a TCP port.

Used by `make dev` and the tests when no external database is configured. Data lives in a
folder of our choosing, so orders survive a restart. Run by root, it runs as another user, its
binaries and maybe its data elsewhere (`postgres_install`); a server left running by a killed
run is found by its data folder (`postgres_leftovers`).

The superuser `postgres` has a password, generated per data folder and kept beside the folder
asked for (`<folder>.password`, mode 0600), and connections authenticate with scram-sha-256.
The unix socket lies in a fresh folder only the server's user may enter.
"""

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared.local.postgres_install import (
    DATA_ELSEWHERE,
    PostgresFailed,
    _binaries,
    _can_enter,
    _database_user,
    _elsewhere,
    _root_owned_folder,
)
from shared.local.postgres_leftovers import (
    _clear_stale_pid_file,
    _live_server,
    _remove_socket_dir,
    _stop_by_signal,
)

SUPERUSER = "postgres"


def _tail(path: Path, since: int, lines: int = 5) -> str:
    try:
        with path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


class EmbeddedPostgres:
    def __init__(self, datadir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.asked = datadir.absolute()
        self.port = port
        self.host = host
        self._user = _database_user()
        self.asked.parent.mkdir(parents=True, exist_ok=True)
        self.password_file = self.asked.parent / f"{self.asked.name}.password"
        if self._user is None or _can_enter(self.asked.parent, self._user):
            self.datadir = self.asked
        else:
            self.datadir = _elsewhere(self.asked)
        self._bin_dir: Path | None = None

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@{self.host}:{self.port}/{database}"

    def _bin(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = _binaries(self._user)
        return self._bin_dir

    def program(self, name: str) -> Path:
        """One of PostgreSQL's programs (psql, pg_dump...), where the database user runs it."""
        return self._bin() / name

    def _run(
        self, name: str, *args: str, log_since: int | None = None, stdin: str | None = None
    ) -> None:
        """Run one of PostgreSQL's programs as the database user; PostgresFailed with its
        own words (and the server log's newest lines) if it fails."""
        user = self._user
        done = subprocess.run(
            [str(self._bin() / name), *args],
            capture_output=True,
            text=True,
            input=stdin,
            cwd="/",
            user=None if user is None else user.uid,
            group=None if user is None else user.gid,
            extra_groups=None if user is None else [],
        )
        if done.returncode != 0:
            reason = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
            log = "" if log_since is None else _tail(self.datadir / "server.log", log_since)
            words = "; ".join([*reason, *log.splitlines()])
            what = f"pg_ctl {args[-1]}" if name == "pg_ctl" else name
            raise PostgresFailed(f"{what} on {self.datadir} failed: {words}")

    def _owned_folder(self, path: Path, mode: int = 0o700) -> None:
        path.mkdir(mode=mode, exist_ok=True)
        if self._user is not None:
            os.chown(path, self._user.uid, self._user.gid)
        path.chmod(mode)

    def _initdb(self) -> None:
        if self.datadir != self.asked:
            _root_owned_folder(DATA_ELSEWHERE)
        self._owned_folder(self.datadir)
        password = self._new_password()
        # initdb reads the password from a file: a short-lived copy its user may read.
        handle, pwfile = tempfile.mkstemp(prefix=".pwfile-", dir=self.datadir.parent)
        try:
            with os.fdopen(handle, "w") as copy:
                copy.write(password + "\n")
                if self._user is not None:
                    os.fchown(copy.fileno(), self._user.uid, self._user.gid)
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--no-sync",
                "-U",
                SUPERUSER,
            )
        finally:
            os.unlink(pwfile)

    def _new_password(self) -> str:
        """A fresh password, kept beside the data folder where only its owner reads it."""
        password = secrets.token_urlsafe(24)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        descriptor = os.open(self.password_file, flags, 0o600)
        with os.fdopen(descriptor, "w") as kept:
            os.fchmod(kept.fileno(), 0o600)
            kept.write(password + "\n")
        return password

    def _require_password(self) -> None:
        """A data folder made when every local connection was trusted keeps its orders: its
        superuser gets a password (set in single-user mode, before any connection is taken)
        and its pg_hba.conf asks for it."""
        self._owned_folder(self.datadir)
        password = self._new_password()
        # token_urlsafe's alphabet needs no quoting inside a SQL string.
        statement = f"ALTER ROLE {SUPERUSER} PASSWORD '{password}';\n"
        self._run("postgres", "--single", "-D", str(self.datadir), "postgres", stdin=statement)
        hba = self.datadir / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        asked = [
            line.rsplit(None, 1)[0] + " scram-sha-256"
            if line.strip() and not line.lstrip().startswith("#") and line.split()[-1] == "trust"
            else line
            for line in lines
        ]
        hba.write_text("\n".join(asked) + "\n")

    def left_running(self) -> bool:
        """Whether a server of this data folder runs where asked (left by a killed run)."""
        running = _live_server(self.datadir)
        return running is not None and running.port == self.port and running.listen == self.host

    def start(self) -> None:
        """Start the server; a server left running on this data folder (by a process killed
        before it could stop it) is reused if it listens where asked, else restarted."""
        running = _live_server(self.datadir)
        if running is not None:
            if running.port == self.port and running.listen == self.host:
                self._wait_ready()
                return
            self.stop()
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb()
        elif not self.password_file.exists():
            self._require_password()
        self._owned_folder(self.datadir)
        _clear_stale_pid_file(self.datadir)
        socket_dir = Path(tempfile.mkdtemp(prefix="orders-pg-sock-"))
        self._owned_folder(socket_dir)
        log = self.datadir / "server.log"
        since = log.stat().st_size if log.exists() else 0
        options = f"-h {self.host} -p {self.port} -k {socket_dir} -c fsync=on"
        try:
            self._run(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-w",
                "-t",
                "60",
                "-l",
                str(log),
                "-o",
                options,
                "start",
                log_since=since,
            )
        except PostgresFailed:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while (server := _live_server(self.datadir)) is not None and server.status != "ready":
            if time.monotonic() > deadline:
                raise PostgresFailed(f"the server on {self.datadir} is {server.status}, not ready")
            time.sleep(0.1)
        if server is None:
            raise PostgresFailed(f"the server on {self.datadir} exited while starting")

    def stop(self, mode: str = "fast") -> None:
        running = _live_server(self.datadir)
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-m", mode, "stop")
        if running is not None:
            _remove_socket_dir(running.socket_dir)

    def is_running(self) -> bool:
        return _live_server(self.datadir) is not None

    def create_database(self, name: str) -> None:
        """Create `name` unless it exists."""
        created = subprocess.run(
            [
                str(self._bin() / "createdb"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                name,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": self.password},
        )
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise PostgresFailed(f"createdb {name} failed: {created.stderr.strip()}")

    def forget(self) -> None:
        """Stop a server running on this data folder and remove the data and the password;
        the data folder asked for goes too."""
        _stop_by_signal(self.datadir)
        shutil.rmtree(self.datadir, ignore_errors=True)
        shutil.rmtree(self.asked, ignore_errors=True)
        self.password_file.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """`python -m shared.local.postgres forget FOLDER`: what `make clean` runs."""
    if len(argv) != 2 or argv[0] != "forget":
        print("usage: python -m shared.local.postgres forget DATA_FOLDER", file=sys.stderr)
        return 2
    asked = Path(argv[1]).absolute()
    if os.geteuid() == 0:
        _stop_by_signal(_elsewhere(asked))
        shutil.rmtree(_elsewhere(asked), ignore_errors=True)
    _stop_by_signal(asked)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
