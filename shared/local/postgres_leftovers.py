"""A server on a data folder as its postmaster.pid tells it, whichever process started it:
found, its stale pid file cleared, stopped by signal (without its binaries); and the scratch
folder that stops every server left in it."""

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.local.postgres_install import _database_user


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
