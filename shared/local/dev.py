"""`orders dev`: the whole system on one machine, each function its own process.

One run per state folder (a lock in it, released by the kernel however the run ends); every
port checked before anything starts; "ready" once every function answers and the eventing
stand-in consumes; Ctrl-C, SIGTERM and a closed terminal (SIGHUP) all stop everything, the
eventing first, so that nothing is delivered to a function on its way out.
"""

import asyncio
import os
import signal
import sys
import time
from contextlib import ExitStack
from types import FrameType
from typing import Any

from shared.domain.events import ALL_TOPICS
from shared.local.dev_processes import (
    _Children,
    _run_to_end,
    _Running,
    _spawn,
    _spawn_dispatcher,
    _wait_until_ready,
)
from shared.local.dev_setup import (
    STATE_DIR,
    StartFailed,
    _bootstrap_servers,
    _database_url,
    _event_auth,
    _hold_the_lock,
    _ports_to_check,
    _public_tls,
)
from shared.local.ports import PortTaken, check_free
from shared.local.postgres_install import PostgresFailed
from shared.local.topology import FUNCTIONS, LISTEN_HOST_VARIABLE, WILDCARDS, listen_host

LOCAL_PARTITIONS = 3
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _banner_line(running: _Running) -> str:
    line = f"{running.function.target:<13} {running.url}"
    if listen_host() in WILDCARDS:
        line += f"  (listening on {running.function.bound}; {LISTEN_HOST_VARIABLE})"
    elif listen_host() != "127.0.0.1":
        line += f"  ({LISTEN_HOST_VARIABLE})"
    return line


def _stop_requested(signum: int, frame: FrameType | None) -> Any:
    """The first stop signal stops everything; others while stopping change nothing."""
    for stop in STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    raise KeyboardInterrupt


def _start(stack: ExitStack) -> _Children:
    from shared.messaging.kafka import ensure_topics
    from shared.settings import Settings

    _hold_the_lock(stack)
    try:
        check_free(_ports_to_check())
    except PortTaken as exc:
        raise StartFailed(str(exc)) from None
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(stack),
        "KAFKA_BOOTSTRAP_SERVERS": _bootstrap_servers(stack),
        "ORDER_LOG_LEVEL": os.environ.get("ORDER_LOG_LEVEL", "INFO"),  # a line per step
    }
    settings = Settings(kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    asyncio.run(ensure_topics(settings, ALL_TOPICS, LOCAL_PARTITIONS))
    _run_to_end(env, "migrate")
    # The broker may be new and empty: put every order still on its way back on track.
    _run_to_end(env, "relay", "--redrive-all")
    children = _Children([])
    stack.callback(children.stop)
    tls_env, tls = _public_tls(env)
    checks, signing = _event_auth()
    for function in FUNCTIONS:
        public = function.target == "orders_http" and tls is not None
        own = {**(tls_env if public else {}), **checks.get(function.target, {})}
        process = _spawn(function, {**env, **own})
        children.functions.append(_Running(function, process, tls if public else None))
    children.dispatcher, consuming = _spawn_dispatcher({**env, **signing})
    stack.callback(os.close, consuming)
    _wait_until_ready(children, consuming)
    return children


def run() -> int:
    """Start everything, print where it runs, and stop it all on Ctrl-C, SIGTERM or SIGHUP."""
    # Explicit for all three: a shell starting us in the background would leave SIGINT ignored.
    for stop in STOP_SIGNALS:
        signal.signal(stop, _stop_requested)
    STATE_DIR.mkdir(exist_ok=True)
    try:
        with ExitStack() as stack:
            children = _start(stack)
            for running in children.functions:
                print(_banner_line(running))
            print("eventing      KafkaSources and PingSource from knative/ (orders dispatch)")
            print("ready; Ctrl-C stops everything", flush=True)
            while (exited := children.exited()) is None:
                time.sleep(0.5)
            print(f"{exited}; stopping the rest", file=sys.stderr, flush=True)
            return 1
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 0
    except (StartFailed, PostgresFailed) as exc:
        print(f"orders dev: {exc}", file=sys.stderr, flush=True)
        return 1
