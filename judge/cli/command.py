"""The ``judge`` command: one function per subcommand, registered in :data:`COMMANDS`.

Adding a subcommand means writing ``_name(args, config) -> int`` (and, if it takes options, an
``_name_options(parser)``) and adding one :class:`Command` line; ``main`` builds the parser
from that table, so the help text and the dispatch cannot drift apart, and loads the
configuration once for whichever subcommand runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg

from judge.cli import languages as language_cli
from judge.cli import run as local_run
from judge.cli import up as launcher
from judge.config import Config
from judge.store.submissions import Storage, StorageUnavailable, describe_dsn


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace, Config], int]
    options: Callable[[argparse.ArgumentParser], None] | None = None


def _migrate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for PostgreSQL to accept connections "
                             "(default: %(default)s)")


def _migrate(args: argparse.Namespace, config: Config) -> int:
    dsn = config.database_url
    with Storage(dsn, max_size=1, open=False) as storage:
        storage.open(wait=True, timeout=args.timeout)
        applied = storage.migrate()
    where = describe_dsn(dsn)
    if not applied:
        print(f"{where}: schema is up to date")
    for migration in applied:
        print(f"{where}: applied {migration.label}")
    return 0


def _up_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, metavar="N",
                        help="judging workers to run (default: one per CPU)")
    parser.add_argument("--bind", metavar="HOST:PORT",
                        help="where the API listens (default: 0.0.0.0:$PORT, PORT=2358)")


def _up(args: argparse.Namespace, config: Config) -> int:
    logging.getLogger().setLevel(logging.INFO)
    return launcher.run(config, workers=args.workers, bind=args.bind)


def _api(args: argparse.Namespace, config: Config) -> int:
    os.execv(sys.executable, launcher.api_command(config, args.bind))


def _worker(args: argparse.Namespace, config: Config) -> int:
    os.execv(sys.executable, launcher.worker_command())


def _bind_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bind", metavar="HOST:PORT", help="default: 0.0.0.0:$PORT")


COMMANDS: tuple[Command, ...] = (
    Command("migrate", "create or upgrade the database schema", _migrate, _migrate_options),
    Command("up", "run the API and one judging worker per CPU in the foreground", _up,
            _up_options),
    Command("api", "run only the API (gunicorn)", _api, _bind_option),
    Command("worker", "run one judging worker", _worker),
    Command("run", "judge one source file locally through the sandbox and print the result",
            local_run.run, local_run.add_arguments),
    Command("languages", "list the languages' Debian packages, or self-test the installed "
            "languages through the sandbox", language_cli.run, language_cli.add_arguments),
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
        config = Config.load()  # the environment, then judge0.conf
    except ValueError as e:  # ConfigError: a setting it cannot read
        print(f"judge {args.command}: {e}", file=sys.stderr)
        return 2
    try:
        return args.run(args, config)
    except StorageUnavailable as e:
        print(f"judge {args.command}: {e}", file=sys.stderr)
    except psycopg.Error as e:
        print(f"judge {args.command}: database error: {str(e).strip()}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
