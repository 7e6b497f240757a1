"""The `orders` console script: serve a function, migrate, run the whole system locally."""

import argparse
import logging

from shared.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orders", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve one function on $PORT")
    serve.add_argument("function")
    commands.add_parser("migrate", help="wait for the database, then alembic upgrade head")
    commands.add_parser("dev", help="run the whole system on this machine")
    args = parser.parse_args(argv)

    configure_logging()
    if args.command == "serve":
        from shared.serve import serve as serve_function

        serve_function(args.function)
    elif args.command == "migrate":
        from shared.migrate import upgrade_to_head

        upgrade_to_head()
        logging.getLogger("orders.migrate").info("database at the newest revision")
    elif args.command == "dev":
        from shared.local.dev import run

        return run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
