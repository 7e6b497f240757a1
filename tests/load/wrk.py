"""wrk, when installed (Debian package `wrk`): a load generator lighter than k6, so on a small
machine it leaves more CPU to the server under test. `make bench` prefers it for the HTTP rows."""

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.load.k6 import LOAD_DIR

_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def available() -> bool:
    return shutil.which("wrk") is not None


def _ms(output: str, percentile: str) -> float:
    found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    return float(found.group(1)) * _SCALE[found.group(2)] if found else float("nan")


def run_wrk(
    url: str,
    seconds: int,
    connections: int,
    post: bool,
    script: Path | None = None,
    script_args: Sequence[str] = (),
) -> dict[str, float]:
    """`script` (with its arguments) drives the requests instead of `post.lua` or a plain GET."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if post:
        command += ["-s", str(LOAD_DIR / "post.lua")]
    elif script is not None:
        command += ["-s", str(script)]
    extra = ["--", *script_args] if script_args else []
    output = subprocess.run(
        [*command, url, *extra], capture_output=True, text=True, check=True
    ).stdout
    requests = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    total = float(requests.group(1)) if requests else 0.0
    return {
        "rps": float(rate.group(1)) if rate else 0.0,
        "p50": _ms(output, "50"),
        "p95": float("nan"),  # wrk --latency prints 50, 75, 90 and 99
        "p99": _ms(output, "99"),
        "errors": float(bad.group(1)) / total if bad and total else 0.0,
        "passed": True,
    }
