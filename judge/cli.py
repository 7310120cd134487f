"""The ``judge`` command: one function per subcommand, registered in :data:`COMMANDS`.

Adding a subcommand means writing ``_name(args) -> int`` (and, if it takes options, an
``_name_options(parser)``) and adding one :class:`Command` line; ``main`` builds the parser
from that table, so the help text and the dispatch cannot drift apart.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg

from .storage import Storage, StorageUnavailable, describe_dsn

DEFAULT_DATABASE_URL = "postgresql://judge:judge@127.0.0.1:5432/judge"


def database_url() -> str:
    """Where the database is: ``DATABASE_URL``, else the local one `make services` sets up."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    options: Callable[[argparse.ArgumentParser], None] | None = None


def _migrate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for PostgreSQL to accept connections "
                             "(default: %(default)s)")


def _migrate(args: argparse.Namespace) -> int:
    dsn = database_url()
    with Storage(dsn, max_size=1, open=False) as storage:
        storage.open(wait=True, timeout=args.timeout)
        applied = storage.migrate()
    where = describe_dsn(dsn)
    if not applied:
        print(f"{where}: schema is up to date")
    for migration in applied:
        print(f"{where}: applied {migration.label}")
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("migrate", "create or upgrade the database schema", _migrate, _migrate_options),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="judge", description="A self-hosted code-execution engine that speaks the "
                                  "Judge0 CE API.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subcommands.add_parser(command.name, help=command.help,
                                     description=command.help)
        if command.options:
            command.options(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except StorageUnavailable as e:
        print(f"judge {args.command}: {e}", file=sys.stderr)
    except psycopg.Error as e:
        print(f"judge {args.command}: database error: {str(e).strip()}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
