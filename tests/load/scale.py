"""`make bench-scale`: the service's speed as its tables grow.

    make bench-scale                                   # 0, 1M and 10M orders
    SCALE_SIZES=0,1000000 make bench-scale             # or: python -m tests.load.scale --help
    SCALE_IDS=uuid4,uuid7 SCALE_SIZES=1000000 make bench-scale   # the two kinds of ids

For each size, each kind of id on a fresh PostgreSQL and broker as `make bench` starts them:
the tables are bulk-loaded (`tests/load/seed.py`: the rows the service writes, in mixed
statuses, 3 events an order, mostly published, idempotency keys for a share), analyzed and
checkpointed; then
- the relay sweep: the outbox_relay function, fired as a PingSource fires it, timed from the
  ping to its answer (the first sweep publishes the load's newest events; the others find
  nothing to publish, as most sweeps of a live system);
- orders_http alone (publishing to the broker, no consumers), after another CHECKPOINT,
  driven by wrk with 32 connections for `--seconds` a row: `POST /` and `GET /{id}` with
  `make bench`'s scripts (one id), then `GET /{id}` of ids drawn from the whole table, and
  `GET /?customer_id=&limit=20` of customers drawn as often as they hold orders (at size 0,
  nearly always the POST rows' one customer, whose orders lie together; at size N, one of
  N/50 customers, whose 20 orders lie on 20 pages); `--rounds` alternate the kinds of id.
The sizes of the tables and their indexes and shared_buffers are printed beside.
`--ids uuid4` runs the service with UUIDv4 ids instead of its UUIDv7 (`serve_uuid4.py`), and
loads UUIDv4 ids. Unless `--no-profile`, the POST and list rows are profiled
(`scale_profile.py`: blocks, I/O and WAL per request, py-spy, the list's plan).
Results go to bench-results/ (scale.md, scale.json).
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.load import scale_profile, wrk
from tests.load.bench import RESULTS, machine
from tests.load.seed import Plan, seed
from tests.load.stack import database_and_broker, function_command, start, stop
from tests.support import free_port, order_body, wait_until_answering

LOAD_DIR = Path(__file__).resolve().parent
ID_KINDS = ("uuid7", "uuid4")
PING = {
    "ce-specversion": "1.0",
    "ce-type": "dev.knative.sources.ping",
    "ce-source": "/apis/v1/namespaces/orders/pingsources/outbox-relay-tick",
    "content-type": "application/json",
}
# Every relation whose size is printed: the tables, then their indexes (a partitioned one's,
# the outbox's, is the sum of its partitions': pg_partition_tree has no row for the others).
SIZE = """
SELECT coalesce(sum(pg_relation_size(relid)), pg_relation_size($1::regclass))
FROM pg_partition_tree($1::regclass) WHERE isleaf"""
RELATIONS = (
    "orders",
    "orders_pkey",
    "orders_seq_key",
    "ix_orders_customer_seq",
    "ix_orders_status_seq",
    "outbox",
    "outbox_pkey",
    "ix_outbox_order",
    "ix_outbox_time",
    "ix_outbox_unpublished",
    "idempotency_keys",
    "idempotency_keys_pkey",
    "ix_idempotency_keys_created_at",
)
# The scale goals at each size, against the same run's empty tables.
CREATE_RATE_GOAL, P99_GOAL = 0.95, 1.2


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def serve_command(ids: str) -> list[str]:
    if ids == "uuid4":
        return [sys.executable, "-m", "tests.load.serve_uuid4", "orders_http"]
    return function_command("orders_http")


async def _prepare(dsn: str, plan: Plan) -> dict[str, Any]:
    """The bulk load, then ANALYZE and CHECKPOINT. WAL may grow freely during the load (fewer
    checkpoints, so fewer full-page images): the setting is reset before anything is timed."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER SYSTEM SET max_wal_size = '16GB'")
        await conn.execute("ALTER SYSTEM SET checkpoint_timeout = '1h'")
        await conn.execute("SELECT pg_reload_conf()")
        report = await seed(dsn, plan, _say)
        await conn.execute("ALTER SYSTEM RESET max_wal_size")
        await conn.execute("ALTER SYSTEM RESET checkpoint_timeout")
        await conn.execute("SELECT pg_reload_conf()")
        _say("  ANALYZE, CHECKPOINT")
        started = time.perf_counter()
        await conn.execute("ANALYZE")
        await conn.execute("CHECKPOINT")
        return {
            "seconds": report.seconds,
            "analyze_checkpoint_seconds": time.perf_counter() - started,
            "events": report.events,
            "keys": report.keys,
            "statuses": report.statuses,
            "unpublished": report.unpublished,
        }
    finally:
        await conn.close()


async def _storage(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        sizes = {name: await conn.fetchval(SIZE, name) for name in RELATIONS}
        rows = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("orders", "outbox", "idempotency_keys")
        }
        return {
            "bytes": sizes,
            "rows": rows,
            "shared_buffers": await conn.fetchval("SHOW shared_buffers"),
            "database_bytes": await conn.fetchval("SELECT pg_database_size(current_database())"),
        }
    finally:
        await conn.close()


def _sweeps(env: dict[str, str], count: int) -> dict[str, Any]:
    """Seconds from a ping to the relay's answer: the first, and the median of the others;
    and the answers' statuses (a sweep longer than the function's deadlines fails: 503)."""
    port = free_port()
    process = start(function_command("outbox_relay"), env, port)
    seconds, statuses = [], []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(f"{url}/healthz", process=process)
        with httpx.Client(timeout=600) as client:
            for _ in range(count):
                started = time.perf_counter()
                answer = client.post(
                    f"{url}/", content=b"{}", headers={**PING, "ce-id": str(uuid.uuid4())}
                )
                seconds.append(time.perf_counter() - started)
                statuses.append(answer.status_code)
    finally:
        stop(process)
    return {
        "first": seconds[0],
        "median": statistics.median(seconds[1:] or seconds),
        "all": seconds,
        "statuses": statuses,
    }


async def _samples(dsn: str, count: int) -> tuple[list[str], list[str]]:
    """Order ids and customers drawn at random over the whole table (by `seq`, uniform)."""
    conn = await asyncpg.connect(dsn)
    try:
        low, high = await conn.fetchrow("SELECT min(seq), max(seq) FROM orders")
        seqs = [random.randint(low, high) for _ in range(count)]
        rows = await conn.fetch("SELECT id, customer_id FROM orders WHERE seq = ANY($1)", seqs)
    finally:
        await conn.close()
    # Customers as often as they hold orders: at size 0, the POST run's customer.
    return [str(row["id"]) for row in rows], [row["customer_id"] for row in rows]


class _Server:
    """orders_http of one kind of id on its own loaded database, and the paths it is read by."""

    def __init__(self, env: dict[str, str], ids: str, workdir: Path, profile: bool) -> None:
        self.env, self.ids, self.workdir = env, ids, workdir
        self.profile, self.profiles = profile, dict[str, Any]()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = start(serve_command(ids), env, self.port)
        wait_until_answering(f"{self.url}/healthz", process=self.process)
        answer = httpx.post(f"{self.url}/", json=order_body("bench"), timeout=10)
        self.created = answer.json()["id"]
        version = uuid.UUID(self.created).version
        if version != int(ids[-1]):
            raise RuntimeError(f"orders_http made a UUIDv{version}, not a {ids}")

    def sample(self) -> int:
        """Ids and customers to read, drawn once the POST rows have run; distinct customers."""
        order_ids, customers = asyncio.run(_samples(self.env["DATABASE_URL"], 20_000))
        self.customers = customers
        self.ids_file = self.workdir / "ids.txt"
        self.ids_file.write_text("".join(f"/{order_id}\n" for order_id in order_ids))
        # A seeded customer has about 50 orders: a full page of 20.
        self.lists_file = self.workdir / "lists.txt"
        self.lists_file.write_text("".join(f"/?customer_id={c}&limit=20\n" for c in customers))
        return len(set(customers))

    def row(self, name: str, seconds: int) -> dict[str, float]:
        if not self.profile or name not in ("create", "list"):
            return self._row(name, seconds)
        figures, self.profiles[name] = scale_profile.profiled(
            self.env["DATABASE_URL"],
            self.process.pid,
            seconds,
            self.workdir,
            lambda: self._row(name, seconds),
        )
        return figures

    def _row(self, name: str, seconds: int) -> dict[str, float]:
        script = LOAD_DIR / "paths.lua"
        if name == "create":
            before = asyncio.run(_wal(self.env["DATABASE_URL"]))
            figures = wrk.run_wrk(f"{self.url}/", seconds, 32, post=True)
            after = asyncio.run(_wal(self.env["DATABASE_URL"]))
            creates = after["orders"] - before["orders"]
            for key in ("wal_bytes", "wal_fpi", "blks_read"):
                figures[f"{key} per create"] = (after[key] - before[key]) / max(creates, 1)
            return figures
        if name == "read":
            return wrk.run_wrk(f"{self.url}/{self.created}", seconds, 32, post=False)
        paths = self.ids_file if name == "read random" else self.lists_file
        return wrk.run_wrk(self.url, seconds, 32, False, script, [str(paths)])

    def stop(self) -> None:
        stop(self.process)


async def _wal(dsn: str) -> dict[str, int]:
    """WAL written (bytes, full-page images), index and table blocks read from outside
    shared_buffers, and orders, so far: what a create costs beyond its CPU."""
    conn = await asyncpg.connect(dsn)
    try:
        wal = await conn.fetchrow("SELECT wal_bytes::bigint, wal_fpi FROM pg_stat_wal")
        read = await conn.fetchval(
            "SELECT sum(coalesce(heap_blks_read, 0) + coalesce(idx_blks_read, 0))::bigint"
            " FROM pg_statio_user_tables"
        )
        orders = await conn.fetchval("SELECT max(seq) FROM orders")
    finally:
        await conn.close()
    return {"wal_bytes": wal[0], "wal_fpi": wal[1], "blks_read": read, "orders": orders or 0}


def _checkpoint(dsn: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    asyncio.run(run())


def run_size(size: int, kinds: list[str], args: argparse.Namespace, workdir: Path) -> list[Any]:
    """Each kind of id on its own database, loaded; then the HTTP rows in rounds that
    alternate the kinds, so that the machine's drift hits them alike; medians."""
    from shared.settings import Settings

    settings = Settings()
    results: dict[str, dict[str, Any]] = {}
    envs: dict[str, dict[str, str]] = {}
    with ExitStack() as stack:
        for ids in kinds:
            plan = Plan(
                orders=size,
                ids=ids,
                rate=args.rate,
                confirm_delay=settings.confirm_delay_seconds,
                ship_delay=settings.ship_delay_seconds,
                key_share=args.key_share,
            )
            env = envs[ids] = stack.enter_context(database_and_broker(workdir / ids))
            result = results[ids] = {"size": size, "ids": ids}
            _say(f"size {size:,}, {ids}: loading")
            result["seed"] = asyncio.run(_prepare(env["DATABASE_URL"], plan))
            result["storage"] = asyncio.run(_storage(env["DATABASE_URL"]))
            _say(f"size {size:,}, {ids}: relay sweeps")
            result["sweep"] = _sweeps(env, args.sweeps)
        servers = {}
        for ids in kinds:
            (workdir / ids).mkdir(parents=True, exist_ok=True)
            servers[ids] = _Server(envs[ids], ids, workdir / ids, args.profile)
            stack.callback(servers[ids].stop)
            _checkpoint(envs[ids]["DATABASE_URL"])
        rows: dict[str, dict[str, list[dict[str, float]]]] = {ids: {} for ids in kinds}
        for n in range(args.rounds):
            _say(f"size {size:,}: HTTP round {n + 1} of {args.rounds}")
            for ids in kinds:
                rows[ids].setdefault("create", []).append(servers[ids].row("create", args.seconds))
            for ids in kinds:
                if n == 0:
                    results[ids]["list customers"] = servers[ids].sample()
                for name in ("read", "read random", "list"):
                    rows[ids].setdefault(name, []).append(servers[ids].row(name, args.seconds))
        for ids in kinds:
            results[ids]["http"] = {name: _median(runs) for name, runs in rows[ids].items()}
            results[ids]["http runs"] = rows[ids]
            if args.profile:
                results[ids]["profile"] = servers[ids].profiles
                explain = scale_profile.list_plan(envs[ids]["DATABASE_URL"], servers[ids].customers)
                results[ids]["list plan"] = asyncio.run(explain)
    return [results[ids] for ids in kinds]


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "passed"}


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 1024:,.0f} kB"


def _rate(figures: dict[str, float]) -> str:
    return f"{figures['rps']:,.0f} ({figures['p99']:.1f} ms)"


def _wal_cell(create: dict[str, float]) -> str:
    if "wal_bytes per create" not in create:
        return ""
    return f"{create['wal_bytes per create']:,.0f} B ({create['wal_fpi per create']:.2f})"


def _failed(sweep: dict[str, Any]) -> str:
    failed = [status for status in sweep.get("statuses", []) if status != 200]
    return f" ({len(failed)} failed: {failed[0]})" if failed else ""


def render(results: dict[str, Any]) -> str:
    runs = results["runs"]
    lines = [
        f"Machine: {results['machine']}. wrk -t1 -c32, {results['seconds']} s a row, "
        f"medians of {results.get('rounds', 1)} round(s) alternating the kinds of id; req/s "
        "(p99). Sizes after the load, ANALYZE and CHECKPOINT.",
        "",
        "| table size | ids | POST / | GET /{id} | GET /{id}, random ids "
        "| GET /?customer_id=&limit=20 | relay sweep (first / median of the next) "
        "| WAL per create (full-page images) | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        rows, http, sweep = run["storage"]["rows"], run["http"], run["sweep"]
        lines.append(
            f"| {run['size']:,} orders seeded ({rows['orders']:,} orders, "
            f"{rows['outbox']:,} outbox rows, {rows['idempotency_keys']:,} keys) "
            f"| {run['ids']} | {_rate(http['create'])} | {_rate(http['read'])} "
            f"| {_rate(http['read random'])} | p99 {http['list']['p99']:.1f} ms "
            f"({http['list']['rps']:,.0f} req/s) "
            f"| {sweep['first']:.3f} / {sweep['median']:.3f} s{_failed(sweep)} "
            f"| {_wal_cell(http['create'])} | {run['seed']['seconds']:.0f} s |"
        )
    lines += ["", *goal_lines(runs), "", *storage_lines(runs)]
    for run in runs:
        lines += ["", *scale_profile.render(run)] if "profile" in run else []
    return "\n".join(lines)


def goal_lines(runs: list[dict[str, Any]]) -> list[str]:
    """The scale goals, each size against size 0 of the same kind of id."""
    lines = []
    for run in runs:
        base = next((r for r in runs if r["size"] == 0 and r["ids"] == run["ids"]), None)
        if base is None or run is base:
            continue
        mine, empty = run["http"], base["http"]
        create = mine["create"]["rps"] / empty["create"]["rps"]
        create_p99 = mine["create"]["p99"] / empty["create"]["p99"]
        list_p99 = mine["list"]["p99"] / empty["list"]["p99"]
        verdict = create >= CREATE_RATE_GOAL and create_p99 <= P99_GOAL and list_p99 <= P99_GOAL
        lines.append(
            f"- {run['size']:,} orders, {run['ids']}, against 0: create {create:.2f}x "
            f"(goal >= {CREATE_RATE_GOAL}x), create p99 {create_p99:.2f}x, list p99 "
            f"{list_p99:.2f}x (goals <= {P99_GOAL}x), GET {mine['read']['rps'] / empty['read']['rps']:.2f}x, "
            f"sweep {run['sweep']['median'] / base['sweep']['median']:.2f}x: "
            f"{'met' if verdict else 'NOT met'}"
        )
    return lines


def storage_lines(runs: list[dict[str, Any]]) -> list[str]:
    header = " | ".join(f"{r['size']:,} {r['ids']}" for r in runs)
    lines = [f"| relation (pg_relation_size) | {header} |", "|---|" + "---|" * len(runs)]
    for name in RELATIONS:
        cells = " | ".join(_mib(r["storage"]["bytes"][name]) for r in runs)
        lines.append(f"| {name} | {cells} |")
    cells = " | ".join(_mib(r["storage"]["database_bytes"]) for r in runs)
    lines.append(f"| whole database | {cells} |")
    cells = " | ".join(str(r["storage"]["shared_buffers"]) for r in runs)
    lines.append(f"| shared_buffers | {cells} |")
    return lines


def _sizes(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=_sizes(os.environ.get("SCALE_SIZES", "0,1000000,10000000")),
        help="orders to load, comma-separated (default: $SCALE_SIZES or 0,1000000,10000000)",
    )
    parser.add_argument(
        "--ids",
        default=os.environ.get("SCALE_IDS", "uuid7"),
        help="uuid7 (the service's), uuid4, or both comma-separated (default: $SCALE_IDS)",
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk row")
    parser.add_argument(
        "--rounds", type=int, default=1, help="HTTP rounds, alternating the kinds of id"
    )
    parser.add_argument(
        "--no-profile", dest="profile", action="store_false", help="skip the rows' profile"
    )
    parser.add_argument("--sweeps", type=int, default=5, help="relay sweeps timed per size")
    parser.add_argument("--rate", type=float, default=250.0, help="orders/s of the timeline")
    parser.add_argument(
        "--key-share", type=float, default=0.25, help="share of orders with an idempotency key"
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="add these runs to those of bench-results/scale.json (a larger size later)",
    )
    args = parser.parse_args()
    kinds = [kind.strip() for kind in args.ids.split(",") if kind.strip()]
    if not kinds or set(kinds) - set(ID_KINDS):
        parser.error(f"--ids: one or more of {', '.join(ID_KINDS)}")
    if not wrk.available():
        parser.error("bench-scale drives the service with wrk (apt-get install wrk)")
    RESULTS.mkdir(exist_ok=True)
    run_dir = RESULTS / f"scale-{int(time.time())}"
    results: dict[str, Any] = {
        "machine": machine(),
        "seconds": args.seconds,
        "rounds": args.rounds,
        "runs": [],
    }
    if args.append and (RESULTS / "scale.json").exists():
        results["runs"] = json.loads((RESULTS / "scale.json").read_text())["runs"]
    for size in args.sizes:
        results["runs"] += run_size(size, kinds, args, run_dir / str(size))
        (RESULTS / "scale.json").write_text(json.dumps(results, indent=2))
        print(render(results), flush=True)
    table = render(results)
    (RESULTS / "scale.md").write_text(table)
    print(f"\nwritten to {RESULTS.name}/ (scale.md, scale.json)")


if __name__ == "__main__":
    main()
