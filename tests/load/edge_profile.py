"""Where the CPU of a lifecycle run goes: py-spy on each Python process of the stack.

One lifecycle run at a given rate (the highest the edge search held, say) on a fresh database
and broker; py-spy samples each process for a while in the middle of the load, without pausing
it, and each process's functions are ranked by their own samples (the leaf of each stack).
"""

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from tests.load.stack import database_and_broker
from tests.load.system_load import lifecycle_run
from tests.system import LocalSystem

PY_SPY = Path(sys.executable).parent / "py-spy"
PROFILED = ("orders_http", "confirm", "ship", "dispatch")
# Past k6's start-up and the first seconds, in which the pools and batches settle.
DELAY_SECONDS = 10.0


def top_functions(collapsed: str, count: int = 5) -> list[tuple[str, float]]:
    """The functions with the most samples of their own, with their share of all samples, from
    py-spy's raw output (a line per stack: frames joined by ';', then its sample count)."""
    own: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit():
            own[_short(stack.rsplit(";", 1)[-1])] += int(samples)
    total = sum(own.values())
    return [(frame, n / total) for frame, n in own.most_common(count)] if total else []


def _short(frame: str) -> str:
    """`name (folder/file.py:12)` without the path before the file's package folder."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(Path(path).parts[-2:])})" if path else name


def profile(workdir: Path, results: Path, rate: int, duration: int, seconds: int) -> dict[str, Any]:
    """The run's figures, and each profiled process's top functions by own samples."""
    recorders: dict[str, subprocess.Popen[bytes]] = {}
    outputs = {name: results / f"profile-{rate}-{name}.txt" for name in PROFILED}

    def record(system: LocalSystem) -> None:
        for name in PROFILED:
            command = [str(PY_SPY), "record", "--nonblocking", "--function", "-f", "raw"]
            command += ["-d", str(seconds), "-o", str(outputs[name])]
            command += ["--pid", str(system.processes[name].pid)]
            recorders[name] = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

    def under_load(system: LocalSystem) -> None:
        threading.Timer(DELAY_SECONDS, record, (system,)).start()

    with database_and_broker(workdir / f"profile-{rate}") as env:
        figures = lifecycle_run(
            env, rate, duration, results, name=f"profile-{rate}", under_load=under_load
        )
    for recorder in recorders.values():
        recorder.wait()
    figures["profile"] = {
        name: top_functions(path.read_text()) if path.exists() else []
        for name, path in outputs.items()
    }
    figures["profile_seconds"] = seconds
    return figures
