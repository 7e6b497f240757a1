"""An embedded PostgreSQL (the binaries shipped in the pgserver wheel) on a TCP port.

Used by `make dev` and the tests when no external database is configured. Data lives in a
directory of our choosing, so orders survive a restart.
"""

import os
import pwd
import shutil
import stat
import subprocess
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # pgserver warns at import about a runtime directory we never use.
    warnings.simplefilter("ignore")
    from pgserver._commands import POSTGRES_BIN_PATH

# PostgreSQL refuses to run as root; pgserver's convention is a system user of this name.
_SYSTEM_USER = "pgserver"
SUPERUSER = "postgres"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run([useradd, "--system", "--no-create-home", _SYSTEM_USER], check=True)
    return _SYSTEM_USER


def _let_user_traverse(path: Path) -> None:
    traverse = stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
    for parent in path.resolve().parents:
        parent.chmod(parent.stat().st_mode | traverse)


class EmbeddedPostgres:
    def __init__(self, datadir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.datadir = datadir.resolve()
        self.port = port
        self.host = host
        self._user = _run_as()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _bin(self, name: str, *args: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / name), *args],
            check=True,
            user=self._user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _initdb(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _let_user_traverse(self.datadir)
            shutil.chown(self.datadir, self._user, self._user)
        self.datadir.chmod(0o700)
        self._bin(
            "initdb",
            "-D",
            str(self.datadir),
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "-U",
            SUPERUSER,
        )

    def start(self) -> None:
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb()
        options = f"-h {self.host} -p {self.port} -k {self.datadir} -c fsync=on"
        self._bin(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.datadir / "server.log"),
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._bin("pg_ctl", "-D", str(self.datadir), "-w", "-m", mode, "stop")

    def is_running(self) -> bool:
        pid_file = self.datadir / "postmaster.pid"
        return pid_file.exists()

    def create_database(self, name: str) -> None:
        """Create `name` unless it exists."""
        createdb = str(POSTGRES_BIN_PATH / "createdb")
        created = subprocess.run(
            [createdb, "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, name],
            capture_output=True,
            text=True,
        )
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise RuntimeError(f"createdb {name} failed: {created.stderr.strip()}")
