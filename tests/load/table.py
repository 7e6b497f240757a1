"""The performance table `make bench` prints (Markdown, as pasted into the README)."""

from typing import Any


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


# Cold-start goals: each function against the FastAPI + SQLModel peer (a goal) and against the
# same program written as a functions-framework function (an aim), and its memory.
COLD_VS_PEER, COLD_VS_FRAMEWORK, COLD_RSS_MIB = 0.6, 0.5, 60.0
# CRUD on this stack: at least the raw asyncpg reference, and this many times the peer.
PEER_GOAL = 5
REFERENCE_COLUMNS = "| raw asyncpg | FastAPI+SQLModel peer | functions-framework+SQLModel |"


def render_table(results: dict[str, Any]) -> str:
    """The rows of the phases that ran (`make bench --only ...` runs some)."""
    lines = [f"Machine: {results['machine']}", ""]
    if "http" in results:
        lines.append(
            f"HTTP rows driven by {results['http']['tool']}, medians of alternating rounds."
        )
        lines.append("")
    if {"http", "cold_start", "lifecycle"} & results.keys():
        lines += [
            f"| figure | project {REFERENCE_COLUMNS} project vs raw / peer / framework | goal |",
            "|---|---|---|---|---|---|---|",
        ]
    if "http" in results:
        lines += _http_rows(results["http"])
    if "cold_start" in results:
        lines += cold_rows(results["cold_start"])
    if "lifecycle" in results:
        lines += _lifecycle_rows(results["lifecycle"])
    if "edge" in results:
        lines += edge_rows(results["edge"])
    if "soak" in results:
        lines += soak_rows(results["soak"])
    if "standins" in results:
        lines += standin_rows(results["standins"])
    if "micro_us" in results:
        lines += ["", "| micro-benchmark | µs per call |", "|---|---|"]
        lines += [f"| {name} | {us:.1f} |" for name, us in results["micro_us"].items()]
    return "\n".join(lines)


def _http_rows(http: dict[str, Any]) -> list[str]:
    lines = []
    for op, label in (("create", "POST / req/s"), ("read", "GET /{id} req/s")):
        mine, raw, peer = (http[f"{t} {op}"] for t in ("project", "raw", "peer"))
        framework = http.get(f"framework {op}")
        vs_raw, vs_peer = mine["rps"] / raw["rps"], mine["rps"] / peer["rps"]
        vs_framework = f"{mine['rps'] / framework['rps']:.2f}x" if framework else "-"
        lines.append(
            f"| {label} (p50/p99 ms; errors) | {mine['rps']:,.0f} "
            f"({mine['p50']:.1f}/{mine['p99']:.1f}; {mine['errors']:.2%}) | {_rate(raw)} "
            f"| {_rate(peer)} | {_rate(framework) if framework else ''} "
            f"| {vs_raw:.2f}x / {vs_peer:.2f}x / {vs_framework} | "
            f">= 1.0x raw: {_met(vs_raw >= 1.0)}; >= {PEER_GOAL}x peer: "
            f"{_met(vs_peer >= PEER_GOAL)} |"
        )
    mix = http["project mix"]
    lines.append(
        f"| CRUD mix req/s (p50/p95/p99 ms; errors) | {mix['rps']:,.0f} "
        f"({mix['p50']:.1f}/{mix['p95']:.1f}/{mix['p99']:.1f}; {mix['errors']:.2%}) "
        f"| | | | | thresholds {'held' if mix['passed'] else 'BROKEN'} |"
    )
    return lines


def _rate(figures: dict[str, float]) -> str:
    return f"{figures['rps']:,.0f} ({figures['p50']:.1f}/{figures['p99']:.1f})"


def cold_rows(cold: dict[str, dict[str, float]]) -> list[str]:
    """A row per function: its cold start and RSS beside both references', and the goals."""
    peer, framework = cold["peer"], cold.get("framework")
    lines = []
    for target, figures in cold.items():
        if target in ("peer", "framework"):
            continue
        vs_peer = figures["seconds"] / peer["seconds"]
        goals = (
            f"<= {COLD_VS_PEER}x peer: {_met(vs_peer <= COLD_VS_PEER)}; "
            f"<= {COLD_RSS_MIB:.0f} MiB: {_met(figures['rss_mib'] <= COLD_RSS_MIB)}"
        )
        ratios = f"- / {vs_peer:.2f}x / -"
        if framework:
            vs_framework = figures["seconds"] / framework["seconds"]
            ratios = f"- / {vs_peer:.2f}x / {vs_framework:.2f}x"
            goals += f"; <= {COLD_VS_FRAMEWORK}x framework: "
            goals += _met(vs_framework <= COLD_VS_FRAMEWORK)
        lines.append(
            f"| cold start {target} (first answer with a DB round trip; RSS) "
            f"| {_start(figures)} | | {_start(peer)} | {_start(framework) if framework else ''} "
            f"| {ratios} | {goals} |"
        )
    return lines


def _start(figures: dict[str, float]) -> str:
    return f"{figures['seconds'] * 1000:.0f} ms; {figures['rss_mib']:.1f} MiB"


def _lifecycle_rows(life: dict[str, Any]) -> list[str]:
    rate = life["shipped_per_second"]
    own = life["own_cpu_ms_per_order"]
    split = ", ".join(f"{k} {v:.2f}" for k, v in life["cpu_ms_per_order"].items())
    return [
        f"| lifecycle: orders/s created and shipped ({life['rate_asked']}/s asked for "
        f"{life['duration_s']} s; {life['orders_shipped']:,} shipped, "
        f"{life['orders_not_shipped']} not; last ship {life['last_create_to_last_ship_s']:.2f} s "
        f"after the last create) | {rate:,.1f} | | | | | >= 250, none lost: "
        f"{_met(rate >= 250 and life['orders_not_shipped'] == 0)} |",
        f"| lifecycle: create p50/p95/p99 ms | {life['create_p50_ms']:.1f}/"
        f"{life['create_p95_ms']:.1f}/{life['create_p99_ms']:.1f} | | | | | p99 < 50: "
        f"{_met(life['create_p99_ms'] < 50)} |",
        f"| CPU ms per order in orders_http + confirm + ship ({split}) | {own:.2f} | | | | "
        f"| <= 4: {_met(own <= 4)} |",
        *_bytes_rows(life.get("bytes_per_order")),
    ]


def _bytes_rows(per_order: dict[str, float] | None) -> list[str]:
    if not per_order:
        return []
    sizes = ", ".join(f"{kind} {per_order[kind]:,.0f}" for kind in BYTE_KINDS)
    lines = [
        f"| lifecycle: bytes per order (table and index growth, WAL, Kafka key + value + "
        f"headers) | {sizes} | | | | | |"
    ]
    if "commits" in per_order:
        lines.append(
            f"| lifecycle: PostgreSQL commits / WAL syncs per order | {per_order['commits']:.2f}"
            f" / {per_order['wal_syncs']:.2f} | | | | | |"
        )
    return lines


BYTE_KINDS = ("table", "index", "wal", "kafka")


def standin_rows(standins: dict[str, Any]) -> list[str]:
    """What each piece of the project's own saves over the library's way (kept over 2%)."""
    lines = [
        "",
        "| ours, against the library's way | µs per call: ours / library's | per order | share"
        " of the stack's CPU per order | kept (> 2%) |",
        "|---|---|---|---|---|",
    ]
    for name, row in standins.items():
        lines.append(
            f"| {name} | {row['project']:.1f} / {row['library']:.1f} |"
            f" {row['saved_us_per_order']:.0f} µs | {row['share']:.1%} |"
            f" {'yes' if row['kept'] else 'NO: use the library'} |"
        )
    return lines


def edge_rows(edge: dict[str, Any]) -> list[str]:
    """A row per step of the search, the highest rate held against the goal, the whole stack's
    CPU per order at that rate by process (k6's apart: it is the load, not the system), and
    where py-spy saw it go when the profile ran."""
    lines = [
        "",
        "| edge step: creates/s asked | carried/s | shipped | lost | create p99 ms | holds |",
        "|---|---|---|---|---|---|",
    ]
    for step in edge["steps"]:
        verdict = "yes" if step["holds"] else "no: " + "; ".join(step["failures"])
        lines.append(
            f"| {step['rate_asked']:,} | {step['shipped_per_second']:,.1f} "
            f"| {step['orders_shipped']:,} | {step['lost']:,} | {step['create_p99_ms']:.1f} "
            f"| {verdict} |"
        )
    held, goal = edge["highest_held"], edge["goal_per_second"]
    lines += [
        "",
        f"Highest rate held: {f'{held:,}/s' if held else 'none'} "
        f"(goal >= {goal:,}/s: {_met(held >= goal)})",
    ]
    best = next((s for s in edge["steps"] if s["holds"] and s["rate_asked"] == held), None)
    if best is None:
        return lines
    cpu = best["load_cpu_ms_per_order"]
    lines += [
        "",
        f"| CPU ms per order at {held:,}/s | {' | '.join(cpu)} | whole stack | k6, apart |",
        "|---|" + "---|" * (len(cpu) + 2),
        f"| | {' | '.join(f'{ms:.1f}' for ms in cpu.values())} | {sum(cpu.values()):.1f} "
        f"| {best['k6_cpu_ms_per_order']:.1f} ({best['k6_cores']:.2f} of a core) |",
    ]
    if "profile" in edge:
        seconds = edge["profile"]["profile_seconds"]
        lines += [
            "",
            f"| py-spy, {seconds} s at {edge['profile']['rate_asked']:,}/s | "
            "functions with the most samples of their own (share of the process's samples) |",
            "|---|---|",
        ]
        for name, top in edge["profile"]["profile"].items():
            listed = ", ".join(f"{frame} {share:.1%}" for frame, share in top)
            lines.append(f"| {name} | {listed or 'no samples'} |")
    return lines


def soak_rows(soak: dict[str, Any]) -> list[str]:
    """Whether autovacuum kept up over the soak: dead rows per table, bounded or growing."""
    lines = [
        "",
        f"Soak: {soak['rate']}/s for {soak['minutes']} min, {soak['orders_shipped']:,} shipped, "
        f"{soak['orders_not_shipped']} not, create p99 {soak['create_p99_ms']:.1f} ms.",
        "",
        "| table | dead rows: most / at the end | live at the end | autovacuum runs |"
        " dead rows bounded |",
        "|---|---|---|---|---|",
    ]
    for table, row in soak["tables"].items():
        lines.append(
            f"| {table} | {row['dead_max']:,} / {row['dead_at_end']:,} | {row['live_at_end']:,}"
            f" | {row['autovacuum_runs']} | {_met(row['bounded'])} |"
        )
    return lines
