"""`make bench`: every figure of the performance table, measured side by side in one run.

    make bench                       # or: .venv/bin/python -m tests.load.bench --help
    make bench BENCH_ARGS="--only cold"

1. HTTP: orders_http alone (publishing to the broker, no consumers) and the three references on
   the same PostgreSQL (raw asyncpg; FastAPI + SQLModel, the peer; a functions-framework function
   with an SQLModel session, under the framework's own command), driven by wrk or k6 with 32
   connections; rounds alternate them so that drift hits all alike; medians are reported.
2. Cold start: each function started as the image starts it, time to its first answer with a
   database round trip (GET /{id} for orders_http, GET /readyz for the others), and its RSS;
   the peer and the functions-framework reference started the same way (GET /{id}), alternating.
3. Lifecycle: the whole system (four functions, local eventing) with zero delays, `lifecycle.js`
   at a constant arrival rate; CPU per order read from /proc for every process.
4. Edge: the highest lifecycle rate held (no create failed or dropped, none lost, create p99
   under 50 ms, the pipeline kept pace), found by a step search of lifecycle runs, each on a
   fresh database and broker; the whole stack's CPU per order at that rate, and k6's apart.
   `--edge-profile` then runs py-spy on the stack's processes at that rate.
5. Micro-benchmarks of the pure steps.
6. Soak, only when asked for (`--only soak`, half an hour): the lifecycle at `--soak-rate`
   for `--soak-minutes`, dead rows per table sampled throughout: does autovacuum keep up?
`--only` runs some of these phases (the table then shows their rows alone).
Results go to bench-results/ (git-ignored): table.md, results.json, latency.png.
"""

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from shared.local.topology import FUNCTIONS
from tests.load import chart, edge, edge_profile, micro, soak, standins, wrk
from tests.load.k6 import K6Result, run_k6
from tests.load.stack import (
    database_and_broker,
    first_answer,
    function_command,
    reference_command,
    reference_env,
    start,
    stop,
)
from tests.load.system_load import lifecycle_run
from tests.support import ROOT, free_port, wait_until_answering

RESULTS = ROOT / "bench-results"
TARGETS = ("project", "raw", "peer", "framework")
# The references whose cold start is measured beside the functions'.
COLD_REFERENCES = ("peer", "framework")
PHASES = ("http", "cold", "lifecycle", "edge", "standins", "micro", "soak")
# The soak takes half an hour: it runs when asked for by name.
DEFAULT_PHASES = tuple(phase for phase in PHASES if phase != "soak")


def _k6_rates(url: str, mix: str, seconds: int, summary: Path) -> dict[str, float]:
    env = {"BASE_URL": url, "MIX": mix, "DURATION": f"{seconds}s", "VUS": "32"}
    # Saturation runs: the thresholds are for the mix, not for a server driven flat out.
    result = run_k6("crud.js", {**env, "P95_MS": "10000", "P99_MS": "10000"}, summary)
    return _figures(result)


def _figures(result: K6Result) -> dict[str, float]:
    return {
        "rps": result.requests_per_second,
        "p50": result.p50_ms,
        "p95": result.p95_ms,
        "p99": result.p99_ms,
        "errors": result.error_rate,
        "passed": result.passed,
    }


def _http_rounds(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    ports = {name: free_port() for name in TARGETS}
    processes = [start(function_command("orders_http"), env, ports["project"])]
    processes += [
        start(reference_command(n, ports[n]), reference_env(env), ports[n]) for n in TARGETS[1:]
    ]
    use_wrk = wrk.available() and not args.k6_only
    try:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        ids = {name: _create_one(url) for name, url in urls.items()}
        runs: dict[str, list[dict[str, float]]] = {}
        for n in range(args.rounds):
            for mix in ("create", "read"):
                for name, url in urls.items():
                    if use_wrk:
                        target = f"{url}/" if mix == "create" else f"{url}/{ids[name]}"
                        figures = wrk.run_wrk(target, args.seconds, 32, post=mix == "create")
                    else:
                        summary = RESULTS / f"http-{name}-{mix}-{n}.json"
                        figures = _k6_rates(url, mix, args.seconds, summary)
                    runs.setdefault(f"{name} {mix}", []).append(figures)
        mix_env = {"BASE_URL": urls["project"], "DURATION": f"{args.seconds}s", "VUS": "32"}
        mixed = run_k6(
            "crud.js", mix_env, RESULTS / "http-project-mix.json", csv=RESULTS / "crud.csv"
        )
        runs["project mix"] = [_figures(mixed)]
    finally:
        for process in processes:
            stop(process)
    medians: dict[str, Any] = {name: _median(figures) for name, figures in runs.items()}
    medians["tool"] = "wrk -t1 -c32" if use_wrk else "k6, 32 VUs"
    return medians


def _create_one(url: str) -> str:
    body = {"customer_id": "bench", "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 1}]}
    wait_until_answering(f"{url}/{uuid.UUID(int=0)}")
    order_id: str = httpx.post(f"{url}/", json=body, timeout=10).json()["id"]
    return order_id


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    figures = {
        key: statistics.median(run[key] for run in runs) for key in ("rps", "p50", "p95", "p99")
    }
    figures["errors"] = max(run["errors"] for run in runs)
    figures["passed"] = all(run["passed"] for run in runs)
    return figures


def _cold_starts(env: dict[str, str], runs: int) -> dict[str, dict[str, Any]]:
    with httpx.Client() as client:
        port = free_port()
        process = start(function_command("orders_http"), env, port)
        try:
            wait_until_answering(f"http://127.0.0.1:{port}/healthz", process=process)
            body = {
                "customer_id": "cold",
                "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 1}],
            }
            order_id = client.post(f"http://127.0.0.1:{port}/", json=body).json()["id"]
        finally:
            stop(process)
    samples: dict[str, list[tuple[float, int]]] = {}
    for _ in range(runs):
        for function in FUNCTIONS:
            port = free_port()
            path = f"/{order_id}" if function.target == "orders_http" else "/readyz"
            url = f"http://127.0.0.1:{port}{path}"
            samples.setdefault(function.target, []).append(
                first_answer(function_command(function.target), env, url, port)
            )
        for name in COLD_REFERENCES:
            port = free_port()
            samples.setdefault(name, []).append(
                first_answer(
                    reference_command(name, port),
                    reference_env(env),
                    f"http://127.0.0.1:{port}/{uuid.UUID(int=0)}",
                    port,
                )
            )
    return {
        name: {
            "seconds": statistics.median(s for s, _ in runs_),
            "rss_mib": statistics.median(r for _, r in runs_) / 1024,
            "runs_seconds": [s for s, _ in runs_],
        }
        for name, runs_ in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of each HTTP round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--rate", type=int, default=250, help="lifecycle: creates per second")
    parser.add_argument("--duration", type=int, default=60, help="lifecycle: seconds of load")
    parser.add_argument("--edge-duration", type=int, default=60, help="edge: seconds a step")
    parser.add_argument("--edge-steps", type=int, default=7, help="edge: most steps searched")
    parser.add_argument("--edge-top", type=int, default=edge.TOP, help="edge: highest rate tried")
    parser.add_argument(
        "--edge-profile",
        action="store_true",
        help="edge: then run py-spy on the stack at the highest rate held, if below the goal",
    )
    parser.add_argument("--edge-profile-seconds", type=int, default=20)
    parser.add_argument("--soak-rate", type=int, default=250, help="soak: creates per second")
    parser.add_argument("--soak-minutes", type=int, default=30, help="soak: minutes of load")
    parser.add_argument("--soak-sample", type=float, default=30, help="soak: seconds a sample")
    parser.add_argument("--k6-only", action="store_true", help="drive the HTTP rows with k6 too")
    parser.add_argument(
        "--only", action="append", choices=PHASES, help="run this phase alone (repeatable)"
    )
    args = parser.parse_args()
    phases = set(args.only or DEFAULT_PHASES)
    RESULTS.mkdir(exist_ok=True)
    started = time.time()
    results: dict[str, Any] = {"machine": machine()}
    run = RESULTS / f"run-{int(started)}"
    if phases & {"http", "cold"}:
        with database_and_broker(run / "http") as env:
            if "http" in phases:
                results["http"] = _http_rounds(env, args)
                _keep(results)
            if "cold" in phases:
                results["cold_start"] = _cold_starts(env, args.cold_runs)
                _keep(results)
    if "lifecycle" in phases:
        # A fresh database and broker: the HTTP rounds leave a hundred thousand events behind.
        with database_and_broker(run / "lifecycle") as env:
            results["lifecycle"] = lifecycle_run(env, args.rate, args.duration, RESULTS)
            _keep(results)
    if "edge" in phases:
        results["edge"] = edge.run(
            run / "edge", RESULTS, args.edge_duration, args.edge_steps, args.edge_top
        )
        _keep(results)
        held = results["edge"]["highest_held"]
        if args.edge_profile and 0 < held < edge.GOAL_PER_SECOND:
            results["edge"]["profile"] = edge_profile.profile(
                run / "edge", RESULTS, held, args.edge_duration, args.edge_profile_seconds
            )
            _keep(results)
    if "soak" in phases:
        results["soak"] = soak.run(
            run / "soak", RESULTS, args.soak_rate, args.soak_minutes, args.soak_sample
        )
        _keep(results)
    if "standins" in phases:
        with database_and_broker(run / "standins") as env:
            measured = standins.run(env)
        # The lifecycle run's whole-stack CPU per order, or the README's last figure alone.
        per_order = results.get("lifecycle", {}).get("cpu_ms_per_order", {})
        stack_us = sum(per_order.values()) * 1000 or standins.LAST_STACK_CPU_US_PER_ORDER
        results["standins"] = standins.verdicts(measured, stack_us)
        _keep(results)
    if "micro" in phases:
        results["micro_us"] = micro.run()
    _keep(results)
    table = render(results)
    (RESULTS / "table.md").write_text(table)
    if {"http", "lifecycle"} <= phases:
        chart.latency_chart(
            RESULTS / "crud.csv", RESULTS / "lifecycle.csv", RESULTS / "latency.png"
        )
    print(table)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}/ (table.md, results.json, latency.png)")


def _keep(results: dict[str, Any]) -> None:
    """Results so far, so that a later phase failing does not lose the earlier ones."""
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2))


def machine() -> str:
    import os
    import platform

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def render(results: dict[str, Any]) -> str:
    from tests.load.table import render_table

    return render_table(results)


if __name__ == "__main__":
    main()
