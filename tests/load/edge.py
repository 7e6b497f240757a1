"""The edge: the highest lifecycle rate the whole system holds, found by a step search.

A step is one lifecycle run at a constant rate on a fresh database, broker and system (a long
outbox or a table grown by earlier steps would bias the later ones). The search grows the rate
until a step fails, then halves the gap between the highest rate held and the lowest failed.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.load.stack import database_and_broker
from tests.load.system_load import lifecycle_run

GOAL_PER_SECOND = 1200
CREATE_P99_GOAL_MS = 50.0
# A pipeline that carried less than this share of the rate asked has fallen behind.
KEPT_PACE_SHARE = 0.98
START, GROWTH, RESOLUTION, TOP = 250, 1.5, 50, 2000
# The goal is on p99 alone: the script's p95 threshold must not fail a step.
K6_SETTINGS = {"CREATE_P95_MS": "100000", "CREATE_P99_MS": str(CREATE_P99_GOAL_MS)}


def lost(step: Mapping[str, Any]) -> int:
    """Orders created and never shipped, by k6's check or by the database's count."""
    return int(max(step["orders_not_shipped"], step["orders_created"] - step["orders_shipped"]))


def failures(step: Mapping[str, Any]) -> list[str]:
    """Why a step did not hold: none when it held."""
    reasons = [
        f"{step['create_failures']} failed creates" if step["create_failures"] else "",
        f"{step['dropped_iterations']} dropped" if step["dropped_iterations"] else "",
        f"{lost(step)} lost" if lost(step) else "",
        "an order missing from the list" if step["verify_checks_failed"] else "",
        f"p99 {step['create_p99_ms']:.1f} ms"
        if not step["create_p99_ms"] < CREATE_P99_GOAL_MS  # NaN (no create measured) fails too
        else "",
        f"carried {step['shipped_per_second']:.0f}/s"
        if step["shipped_per_second"] < KEPT_PACE_SHARE * step["rate_asked"]
        else "",
    ]
    return [reason for reason in reasons if reason]


def holds(step: Mapping[str, Any]) -> bool:
    return not failures(step)


def _round(rate: float) -> int:
    return max(RESOLUTION, round(rate / RESOLUTION) * RESOLUTION)


def next_rate(tried: Sequence[tuple[int, bool]], top: int = TOP) -> int | None:
    """The rate of the next step from the (rate, held) of those so far; None when the edge is
    known to within RESOLUTION, or every rate up to `top` held."""
    if not tried:
        return START
    low = max((rate for rate, held in tried if held), default=0)
    high = min((rate for rate, held in tried if not held and rate > low), default=None)
    if high is None:
        return min(top, _round(low * GROWTH)) if low < top else None
    if high - low <= RESOLUTION:
        return None
    middle = _round((low + high) / 2)
    return middle if low < middle < high else None


def search(run_step: Callable[[int], bool], steps: int, top: int = TOP) -> list[tuple[int, bool]]:
    """(rate, held) of each step, at most `steps` of them."""
    tried: list[tuple[int, bool]] = []
    while len(tried) < steps and (rate := next_rate(tried, top)) is not None:
        tried.append((rate, run_step(rate)))
    return tried


def highest_held(steps: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    held = [step for step in steps if step["holds"]]
    return max(held, key=lambda step: step["rate_asked"], default=None)


def run(workdir: Path, results: Path, duration: int, steps: int, top: int) -> dict[str, Any]:
    """Every step's figures and verdict, and the highest rate held."""
    measured: list[dict[str, Any]] = []

    def run_step(rate: int) -> bool:
        with database_and_broker(workdir / f"edge-{rate}") as env:
            step = lifecycle_run(
                env, rate, duration, results, name=f"edge-{rate}", k6_settings=K6_SETTINGS
            )
        step.update(lost=lost(step), failures=failures(step))
        step["holds"] = not step["failures"]
        measured.append(step)
        verdict = "holds" if step["holds"] else "fails: " + "; ".join(step["failures"])
        print(
            f"edge: {rate}/s asked, {step['shipped_per_second']:.1f}/s carried, create p99 "
            f"{step['create_p99_ms']:.1f} ms: {verdict}",
            flush=True,
        )
        return bool(step["holds"])

    search(run_step, steps, top)
    best = highest_held(measured)
    return {
        "steps": measured,
        "highest_held": best["rate_asked"] if best else 0,
        "goal_per_second": GOAL_PER_SECOND,
    }
