"""Command line: ``python -m oms_kit demo``, ``python -m oms_kit serve`` and ``python -m oms_kit db migrate [URL]``
(also ``oms-kit``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from oms_kit.errors import OmsError
from oms_kit.storage import open_store, read_migrations


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 on success, 1 on an oms_kit error, 2 on bad usage).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``sys.argv[1:]`` when None.
    """
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except OmsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m oms_kit", description="oms_kit: order management kit")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="a short paper-trading session in the terminal (in-memory DuckDB)",
        description="Random-walk prices, an order of each type, fills, a rejection and a cancel; then the orders, "
        "fills, positions and P&L as tables.",
    )
    demo.add_argument("--seconds", type=float, default=3.0, help="how long prices run before the tables (3)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the random walk (7)")
    demo.set_defaults(run=_demo)

    serve = commands.add_parser(
        "serve",
        help="run an OMS with its HTTP API (REST under /api/oms)",
        description="Open an OMS (the random-walk feed; in-memory DuckDB unless a database is given) and serve it "
        "over HTTP until Ctrl-C or SIGTERM. Every request needs the token: given, or generated and printed.",
    )
    serve.add_argument("--db", metavar="URL", default=None,
                       help="database URL (default: $OMS_KIT_DATABASE_URL, then $DATABASE_URL, then in-memory DuckDB)")
    serve.add_argument("--account", metavar="NAME", default="default", help="the account to serve (default)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (127.0.0.1: this machine only; another is warned about)")
    serve.add_argument("--port", type=int, default=8050, help="port to listen on (8050; 0: any free port)")
    serve.add_argument("--token", metavar="T", default=os.environ.get("OMS_KIT_TOKEN"),
                       help="the token clients must send (default: $OMS_KIT_TOKEN, else generated and printed)")
    serve.add_argument("--read-only-token", metavar="T", default=os.environ.get("OMS_KIT_READ_ONLY_TOKEN"),
                       help="a token for watchers: GET requests only (default: $OMS_KIT_READ_ONLY_TOKEN, else none)")
    serve.add_argument("--cors-origin", metavar="ORIGIN", action="append", default=[],
                       help="an origin whose browser pages may call the API (repeatable; none by default)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(title="database commands", metavar="COMMAND", required=True)
    migrate = db_commands.add_parser(
        "migrate",
        help="apply pending migrations (running it again applies nothing)",
        description="Apply the schema migrations not applied yet and print the versions applied.",
    )
    migrate.add_argument(
        "url",
        nargs="?",
        help="database URL, e.g. postgresql://user@host:5432/db or duckdb:///data/oms.duckdb "
        "(default: $OMS_KIT_DATABASE_URL, then $DATABASE_URL)",
    )
    migrate.set_defaults(run=_migrate)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from oms_kit.demo import run_demo

    asyncio.run(run_demo(seconds=args.seconds, seed=args.seed))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from oms_kit.service.command import main as serve  # on uvloop when installed

    return serve(url=args.db, account=args.account, host=args.host, port=args.port, token=args.token,
                 read_only_token=args.read_only_token, cors_origins=args.cors_origin, access_log=args.access_log)


def _migrate(args: argparse.Namespace) -> int:
    async def run() -> tuple[str, list[int]]:
        store = await open_store(args.url, migrate=False)
        try:
            return store.url, await store.migrate()
        finally:
            await store.close()

    url, applied = asyncio.run(run())
    names = {migration.version: migration.name for migration in read_migrations()}
    if applied:
        print(f"{url}: applied " + ", ".join(f"{version:04d}_{names[version]}" for version in applied))
    else:
        print(f"{url}: up to date, no migration applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
