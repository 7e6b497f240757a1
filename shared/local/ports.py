"""The ports `orders dev` listens on: free before it starts, and really its own once it has.

A port someone else listens on is a failure named by the variable that moves it, never a
neighbour's server taken for ours (a second checkout once consumed the first one's events).
"""

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Port:
    number: int
    variable: str
    host: str = "127.0.0.1"

    def __str__(self) -> str:
        return f"port {self.number} ({self.variable})"


class PortTaken(Exception):
    """A port `orders dev` needs is held by another program, or named twice."""


def is_free(host: str, port: int) -> bool:
    """Whether a listener could bind `host:port` now (SO_REUSEADDR, as uvicorn and tansu set it,
    so that connections of a previous run still in TIME_WAIT do not count as a holder)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def check_free(ports: list[Port]) -> None:
    """Raise `PortTaken` naming every port (and its variable) that is not free."""
    problems: list[str] = []
    seen: dict[int, Port] = {}
    for port in ports:
        if port.number in seen:
            problems.append(f"{port} is also {seen[port.number].variable}'s; move one of them")
            continue
        seen[port.number] = port
        if not is_free(port.host, port.number):
            problems.append(f"{port} is in use by another program; set {port.variable} to move")
    if problems:
        raise PortTaken("; ".join(problems))


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP `port` (any address), or None without Linux's /proc."""
    inodes: set[str] = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes if found_table else None


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process `pid` holds a listening socket on `port`; None when this system cannot
    tell (no /proc)."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None if not Path("/proc/self/fd").exists() else False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False
