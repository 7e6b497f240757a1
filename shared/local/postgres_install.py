"""Who runs the embedded PostgreSQL, and where its programs and (run by root) its data live.

PostgreSQL refuses to run as root. Run by root, it runs as the system user `pgserver` (made
with its own group if missing), with that group only, and reaches only what it must:
- the binaries: a root-owned copy of the wheel's `pginstall` (bin, lib, share) in
  `/var/cache/orders-postgres/pgserver-<version>/`, made once per pgserver version and shared,
  a cache like uv's (the wheel sits in `.venv`, which may lie in a folder only root may enter);
- the data: the folder asked for, if that user can reach it; else
  `/var/lib/orders-postgres/<hash of the asked folder's absolute path>`, so that the data of a
  private checkout still survive a restart. `forget` removes them (`make clean` calls it).
Nothing else changes hands or modes. Run by anyone else, it runs as that user, data where asked.
"""

import contextlib
import hashlib
import importlib.metadata
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

# PostgreSQL refuses to run as root; pgserver's convention is a system user of this name.
_SYSTEM_USER = "pgserver"

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
