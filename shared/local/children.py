"""How `orders dev` starts its long-running children: each in its own process group, so that
the terminal's Ctrl-C and hang-up reach `orders dev` alone, which stops them in order; and, on
Linux, bound to their parent's life, so that a killed `orders dev` leaves none behind."""

import ctypes
import os
import signal
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def child_options() -> dict[str, Any]:
    """Keyword arguments for `subprocess.Popen` of a child `orders dev` keeps running."""
    options: dict[str, Any] = {"process_group": 0}
    if sys.platform == "linux":
        parent = os.getpid()
        options["preexec_fn"] = lambda: _die_with_parent(parent)
    return options
