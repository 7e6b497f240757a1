"""An embedded PostgreSQL (the binaries shipped in the pgserver wheel) on a TCP port.

Used by `make dev` and the tests when no external database is configured. Data lives in a
folder of our choosing, so orders survive a restart.

PostgreSQL refuses to run as root. Run by root, it runs as the system user `pgserver` (made
with its own group if missing), with that group only, and reaches only what it must:
- the binaries: a root-owned copy of the wheel's `pginstall` (bin, lib, share) in
  `/var/cache/orders-postgres/pgserver-<version>/`, made once per pgserver version and shared,
  a cache like uv's (the wheel sits in `.venv`, which may lie in a folder only root may enter);
- the data: the folder asked for, if that user can reach it; else
  `/var/lib/orders-postgres/<hash of the asked folder's absolute path>`, so that the data of a
  private checkout still survive a restart. `forget` removes them (`make clean` calls it).
Nothing else changes hands or modes. Run by anyone else, it runs as that user, data where asked.

The superuser `postgres` has a password, generated per data folder and kept beside the folder
asked for (`<folder>.password`, mode 0600), and connections authenticate with scram-sha-256.
The unix socket lies in a fresh folder only the server's user may enter.
"""

import contextlib
import hashlib
import importlib.metadata
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# PostgreSQL refuses to run as root; pgserver's convention is a system user of this name.
_SYSTEM_USER = "pgserver"
SUPERUSER = "postgres"
BINARY_CACHE = Path("/var/cache/orders-postgres")
DATA_ELSEWHERE = Path("/var/lib/orders-postgres")
# What the server needs, as laid out in site-packages: the programs find the libraries the
# wheel vendors at $ORIGIN/../../../pgserver.libs.
_PARTS = (
    "pgserver/pginstall/bin",
    "pgserver/pginstall/lib",
    "pgserver/pginstall/share",
    "pgserver.libs",
)


class PostgresFailed(RuntimeError):
    """The embedded PostgreSQL could not be set up, started or stopped; the message says why
    (pg_ctl's or initdb's own words, and the server log's last lines)."""


@dataclass(frozen=True)
class _User:
    name: str
    uid: int
    gid: int


def _database_user() -> _User | None:
    """Who the server runs as when we are root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        made = subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home", _SYSTEM_USER],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0 and "already exists" not in made.stderr:
            raise PostgresFailed(f"useradd {_SYSTEM_USER} failed: {made.stderr.strip()}") from None
        entry = pwd.getpwnam(_SYSTEM_USER)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise PostgresFailed(
            f"the system user {_SYSTEM_USER} has uid or gid 0; give it its own user and group "
            f"(e.g. groupadd --system {_SYSTEM_USER} && usermod -g {_SYSTEM_USER} {_SYSTEM_USER})"
        )
    return _User(_SYSTEM_USER, entry.pw_uid, entry.pw_gid)


def _can_enter(folder: Path, user: _User) -> bool:
    """Whether `user`, with its own group only, may enter `folder` and every folder above it."""
    for path in (folder, *folder.parents):
        try:
            mode = path.stat()
        except OSError:
            return False
        if mode.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif mode.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not mode.st_mode & bit:
            return False
    return True


def _root_owned_folder(path: Path) -> None:
    """`path` exists, owned by root, writable by root only (made 0755 if it was missing)."""
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    mode = path.lstat()
    if not stat.S_ISDIR(mode.st_mode) or mode.st_uid != 0 or mode.st_mode & 0o022:
        raise PostgresFailed(f"{path} must be a folder owned by root that only root may write")


def _wheel_bin() -> Path:
    with warnings.catch_warnings():
        # pgserver warns at import about a runtime directory we never use.
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _binaries(user: _User | None) -> Path:
    """The folder of PostgreSQL's programs: the wheel's own, or (run by root) a copy in a
    root-owned cache that the database user can read."""
    wheel = _wheel_bin()
    if user is None:
        return wheel
    site_packages = wheel.parents[2]
    _root_owned_folder(BINARY_CACHE)
    installed = BINARY_CACHE / f"pgserver-{importlib.metadata.version('pgserver')}"
    bin_dir = installed / _PARTS[0]
    if not (bin_dir / "postgres").exists():
        incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=BINARY_CACHE))
        try:
            for part in _PARTS:
                shutil.copytree(site_packages / part, incoming / part, symlinks=True)
            for folder, _, files in os.walk(incoming):
                os.chmod(folder, 0o755)  # noqa: S103  # nosec B103: binaries all may read, none may write
                for name in files:
                    path = os.path.join(folder, name)
                    if not os.path.islink(path):
                        executable = os.stat(path).st_mode & stat.S_IXUSR
                        os.chmod(path, 0o755 if executable else 0o644)
            with contextlib.suppress(OSError):  # another process renamed its copy first
                incoming.rename(installed)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
    _root_owned_folder(installed)
    if not _can_enter(bin_dir, user):
        raise PostgresFailed(f"the user {user.name} cannot reach {installed}: check its modes")
    return bin_dir


def _key(folder: Path) -> str:
    return hashlib.sha256(str(folder).encode()).hexdigest()[:20]


def _elsewhere(asked: Path) -> Path:
    return DATA_ELSEWHERE / _key(asked)


@dataclass(frozen=True)
class _Server:
    """What a live server wrote in its data folder's postmaster.pid."""

    pid: int
    port: int
    socket_dir: str
    listen: str
    status: str


def _live_server(datadir: Path) -> _Server | None:
    """The server running on `datadir`, if its postmaster.pid names a live postgres whose
    working directory is `datadir` (the postmaster's is); None for a stale file or none."""
    try:
        lines = (datadir / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
            return None
        if Path(os.readlink(f"/proc/{pid}/cwd")) != datadir.resolve():
            return None
    except (OSError, ValueError, IndexError):
        return None
    fields = [*lines[3:8], "", "", "", "", ""]
    port = int(fields[0]) if fields[0].strip().isdigit() else 0
    return _Server(pid, port, fields[1], fields[2], fields[4].strip())


def _clear_stale_pid_file(datadir: Path) -> None:
    """After a server that did not stop: remove the socket folder its postmaster.pid names, and
    the file itself if its pid now belongs to another live process (the server would take that
    for a live owner). A pid file naming a dead process, pg_ctl itself handles."""
    try:
        lines = (datadir / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return
    if _live_server(datadir) is not None:
        return
    if len(lines) > 4:
        _remove_socket_dir(lines[4])
    if Path(f"/proc/{pid}").exists():
        (datadir / "postmaster.pid").unlink(missing_ok=True)


def _stop_by_signal(datadir: Path, timeout: float = 60.0) -> None:
    """Stop a live server on `datadir` (fast shutdown) without its binaries."""
    server = _live_server(datadir)
    if server is None:
        return
    os.kill(server.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{server.pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.kill(server.pid, signal.SIGKILL)
    _remove_socket_dir(server.socket_dir)


def _remove_socket_dir(socket_dir: str) -> None:
    """Remove a socket folder that we made (a fresh temporary folder named orders-pg-sock-*)."""
    path = Path(socket_dir)
    if path.name.startswith("orders-pg-sock-") and path.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(path, ignore_errors=True)


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


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    """A fresh temporary folder that the database user owns (so it can reach what is made in
    it), removed afterwards with every server left running on a data folder in it."""
    folder = Path(tempfile.mkdtemp(prefix="orders-pg-"))
    user = _database_user()
    if user is not None:
        os.chown(folder, user.uid, user.gid)
    try:
        yield folder
    finally:
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                _stop_by_signal(child)
        shutil.rmtree(folder, ignore_errors=True)


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
