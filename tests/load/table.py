"""The performance table `make bench` prints (Markdown, as pasted into the README)."""

from typing import Any


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def render_table(results: dict[str, Any]) -> str:
    http, cold, life = results["http"], results["cold_start"], results["lifecycle"]
    lines = [
        f"Machine: {results['machine']}",
        "",
        f"HTTP rows driven by {http['tool']}, medians of alternating rounds.",
        "",
        "| figure | project | raw asyncpg | FastAPI+SQLModel peer | vs raw / vs peer | goal |",
        "|---|---|---|---|---|---|",
    ]
    for op, label in (("create", "POST / req/s"), ("read", "GET /{id} req/s")):
        mine, raw, peer = (http[f"{t} {op}"] for t in ("project", "raw", "peer"))
        vs_raw, vs_peer = mine["rps"] / raw["rps"], mine["rps"] / peer["rps"]
        lines.append(
            f"| {label} (p50/p99 ms; errors) | {mine['rps']:,.0f} "
            f"({mine['p50']:.1f}/{mine['p99']:.1f}; {mine['errors']:.2%}) | {raw['rps']:,.0f} "
            f"({raw['p50']:.1f}/{raw['p99']:.1f}) | {peer['rps']:,.0f} "
            f"({peer['p50']:.1f}/{peer['p99']:.1f}) | {vs_raw:.2f}x / {vs_peer:.2f}x | "
            f">= 0.9x raw: {_met(vs_raw >= 0.9)}; >= 3x peer: {_met(vs_peer >= 3)} |"
        )
    mix = http["project mix"]
    lines.append(
        f"| CRUD mix req/s (p50/p95/p99 ms; errors) | {mix['rps']:,.0f} "
        f"({mix['p50']:.1f}/{mix['p95']:.1f}/{mix['p99']:.1f}; {mix['errors']:.2%}) "
        f"| | | | thresholds {'held' if mix['passed'] else 'BROKEN'} |"
    )
    peer_cold = cold["peer"]["seconds"]
    for target, figures in cold.items():
        if target == "peer":
            continue
        ratio = figures["seconds"] / peer_cold
        lines.append(
            f"| cold start {target} (first answer with a DB round trip; RSS) "
            f"| {figures['seconds'] * 1000:.0f} ms; {figures['rss_mib']:.1f} MiB | | "
            f"{peer_cold * 1000:.0f} ms; {cold['peer']['rss_mib']:.1f} MiB | {ratio:.2f}x peer | "
            f"<= 0.6x: {_met(ratio <= 0.6)}; <= 60 MiB: {_met(figures['rss_mib'] <= 60)} |"
        )
    rate = life["shipped_per_second"]
    lines.append(
        f"| lifecycle: orders/s created and shipped ({life['rate_asked']}/s asked for "
        f"{life['duration_s']} s; {life['orders_shipped']:,} shipped, "
        f"{life['orders_not_shipped']} not; last ship {life['last_create_to_last_ship_s']:.2f} s "
        f"after the last create) | {rate:,.1f} | | | | >= 250, none lost: "
        f"{_met(rate >= 250 and life['orders_not_shipped'] == 0)} |"
    )
    lines.append(
        f"| lifecycle: create p50/p95/p99 ms | {life['create_p50_ms']:.1f}/"
        f"{life['create_p95_ms']:.1f}/{life['create_p99_ms']:.1f} | | | | p99 < 50: "
        f"{_met(life['create_p99_ms'] < 50)} |"
    )
    own = life["own_cpu_ms_per_order"]
    split = ", ".join(f"{k} {v:.2f}" for k, v in life["cpu_ms_per_order"].items())
    lines.append(
        f"| CPU ms per order in orders_http + confirm + ship ({split}) | {own:.2f} | | | "
        f"| <= 4: {_met(own <= 4)} |"
    )
    lines += ["", "| micro-benchmark | µs per call |", "|---|---|"]
    lines += [f"| {name} | {us:.1f} |" for name, us in results["micro_us"].items()]
    return "\n".join(lines)
