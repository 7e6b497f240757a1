"""A PNG of request latency over time (p50 and p99 per second) from k6's CSV output."""

import csv
from collections import defaultdict
from pathlib import Path


def _per_second(path: Path, name: str | None) -> tuple[list[float], list[float], list[float]]:
    buckets: dict[int, list[float]] = defaultdict(list)
    with path.open() as rows:
        for row in csv.DictReader(rows):
            if row["metric_name"] != "http_req_duration":
                continue
            if name is not None and row.get("name") != name:
                continue
            buckets[int(float(row["timestamp"]))].append(float(row["metric_value"]))
    if not buckets:
        return [], [], []
    start = min(buckets)
    seconds, p50, p99 = [], [], []
    for second in sorted(buckets):
        values = sorted(buckets[second])
        seconds.append(float(second - start))
        p50.append(values[len(values) // 2])
        p99.append(values[min(len(values) - 1, int(len(values) * 0.99))])
    return seconds, p50, p99


def latency_chart(crud_csv: Path, lifecycle_csv: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 1, figsize=(10, 7), constrained_layout=True)
    panels = (
        (axes[0], crud_csv, None, "CRUD mix, 32 VUs: every request"),
        (axes[1], lifecycle_csv, "create", "Lifecycle at a constant arrival rate: POST /"),
    )
    for axis, path, name, title in panels:
        if path.exists():
            seconds, p50, p99 = _per_second(path, name)
            axis.plot(seconds, p50, label="p50")
            axis.plot(seconds, p99, label="p99")
        axis.set_title(title)
        axis.set_xlabel("seconds into the run")
        axis.set_ylabel("latency (ms)")
        axis.legend()
    figure.savefig(out, dpi=100)
    plt.close(figure)
