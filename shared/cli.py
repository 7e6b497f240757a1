"""The `orders` console script: serve a function, migrate, relay, dispatch, run it all locally,
act on dead letters."""

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager


async def _relay(redrive_all: bool) -> None:
    from shared.domain.lifecycle import IN_FLIGHT
    from shared.flows.relay import overdue_after, sweep
    from shared.messaging.publisher import get_publisher
    from shared.settings import get_settings
    from shared.store.db import get_database

    settings = get_settings()
    publisher = get_publisher()
    redrive_after = dict.fromkeys(IN_FLIGHT, 0.0) if redrive_all else overdue_after(settings)
    try:
        report = await sweep(settings, get_database(), publisher, redrive_after)
        logging.getLogger("orders.relay").info("sweep done: %s", report)
    finally:
        await publisher.close()
        await get_database().close()


DISPATCH_STOP_GRACE_SECONDS = 3.0


@contextmanager
def _dev_only(command: str) -> Iterator[None]:
    """Around the import of a dev-only command: shared/local and its packages (the `local`
    group) are left out of the image, where such a command ends in one line, not a traceback."""
    try:
        yield
    except ModuleNotFoundError as missing:
        raise SystemExit(
            f"orders {command}: a dev-only command, and this installation has no "
            f"{missing.name or 'shared.local'} (run it from a checkout: make dev)"
        ) from None


async def _dispatch() -> None:
    """The eventing stand-in until SIGTERM or SIGINT, which stop it quietly: consumers leave
    their groups and close, deliveries in flight are dropped uncommitted (to be redelivered).
    With ORDERS_DISPATCH_READY_FD (`orders dev` passes a pipe), a line is written there once
    every KafkaSource consumes."""
    import asyncio
    import os
    import signal

    from shared.local.eventing import run_eventing
    from shared.settings import get_settings

    ready_fd = int(os.environ.get("ORDERS_DISPATCH_READY_FD", "-1"))

    def tell_ready() -> None:
        if ready_fd >= 0:
            os.write(ready_fd, b"consuming\n")
            os.close(ready_fd)

    running = asyncio.ensure_future(run_eventing(get_settings(), tell_ready))
    loop = asyncio.get_running_loop()

    def stop() -> None:
        running.cancel()
        # A broker slow to let the consumers leave their groups (tansu can take its own
        # timeout) must not hold the stop: what was not committed is delivered again anyway.
        loop.call_later(DISPATCH_STOP_GRACE_SECONDS, os._exit, 0)

    for stopping in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stopping, stop)
    try:
        await running
    except asyncio.CancelledError:
        if not running.cancelled():
            raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orders", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve one function on $PORT")
    serve.add_argument("function", nargs="?", help="default: $FUNCTION_TARGET")
    commands.add_parser("migrate", help="wait for the database, then alembic upgrade head")
    relay = commands.add_parser("relay", help="one outbox sweep: publish missed events")
    relay.add_argument(
        "--redrive-all",
        action="store_true",
        help="also re-publish the driving event of every order still on its way",
    )
    commands.add_parser("dispatch", help="local stand-in for Knative Eventing")
    commands.add_parser("dev", help="run the whole system on this machine")
    watch = commands.add_parser("watch", help="print each event on the orders.* topics")
    watch.add_argument(
        "--from-beginning", action="store_true", help="first what the topics hold already"
    )
    dlq = commands.add_parser("dlq", help="the dead letters (orders.dlq): list, replay")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_commands.add_parser(
        "list", help="each dead letter and why it was refused; commits no offsets"
    )
    dlq_list.add_argument("--json", action="store_true", help="one JSON object a line")
    replay = dlq_commands.add_parser(
        "replay", help="put dead-lettered events back on their topic, as they were published"
    )
    replay.add_argument("event_ids", nargs="*", metavar="EVENT_ID", help="the events' ids")
    replay.add_argument("--all", action="store_true", help="every dead-lettered event, once")
    for dlq_command in (dlq_list, replay):
        dlq_command.add_argument("--topic", help="the dead-letter topic (default: orders.dlq)")
    args = parser.parse_args(argv)
    if args.command == "dlq" and args.dlq_command == "replay" and bool(args.event_ids) == args.all:
        replay.error("name the events to replay, or --all (not both)")

    if args.command == "serve":
        from shared.runtime import startup

        # First: every import below is part of a function's cold start.
        startup.begin()
    from shared.logs import configure_logging

    configure_logging()
    if args.command == "serve":
        from shared.runtime.serve import serve as serve_function

        serve_function(args.function)
    elif args.command == "migrate":
        from shared.store.migrate import upgrade_to_head

        upgrade_to_head()
        logging.getLogger("orders.migrate").info("database at the newest revision")
    elif args.command == "relay":
        import asyncio

        asyncio.run(_relay(args.redrive_all))
    elif args.command == "dispatch":
        with _dev_only("dispatch"):
            import shared.local.eventing  # noqa: F401  (what _dispatch runs: missing, it ends here)
        import uvloop

        # uvloop as under the functions: the dispatcher's HTTP client is its hot path.
        uvloop.run(_dispatch())
    elif args.command == "watch":
        with _dev_only("watch"):
            from shared.local.watch import run as watch_events

        return watch_events(args.from_beginning)
    elif args.command == "dlq":
        from shared.messaging.dead_letter_topic import run as dead_letters

        return dead_letters(
            args.dlq_command,
            as_json=getattr(args, "json", False),
            event_ids=getattr(args, "event_ids", ()),
            everything=getattr(args, "all", False),
            topic=args.topic,
        )
    elif args.command == "dev":
        with _dev_only("dev"):
            from shared.local.dev import run

        return run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
