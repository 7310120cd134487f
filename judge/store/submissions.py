"""PostgreSQL, the source of truth: the connection pool, schema migrations, and the submissions.

A submission exists once its row is committed; the queue only carries its token. Every state
change a worker makes is a single conditional UPDATE, so two workers that got the same token
(a re-queued job, a retried one) cannot both complete it: the first final write wins.

Rows are dicts keyed by column name: text attributes as ``bytes``, decimals as ``Decimal``,
timestamps as aware ``datetime``, and the token as its ``str`` form.
"""

from __future__ import annotations

import logging
import re
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from judge.store import statements
from judge.store.statements import (  # noqa: F401 - the data layer's names, used by its other modules
    COLUMNS,
    IN_QUEUE,
    PROCESSING,
    SELECT_LIST,
    UNFINISHED_STATUSES,
    Statement,
)

log = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "judge.store.migrations"
_MIGRATION_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
# Arbitrary but fixed: every process that migrates this database takes the same lock.
_MIGRATION_LOCK_KEY = 0x4A554447_45303031  # "JUDGE001"
_LEDGER = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version     integer PRIMARY KEY,
        name        text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
    )"""


class StorageUnavailable(RuntimeError):
    """PostgreSQL could not be reached; the message says where and why."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def available_migrations() -> list[Migration]:
    """The SQL files shipped in judge/migrations, in version order."""
    found: dict[int, Migration] = {}
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations share version {version:04d}: "
                               f"{found[version].label}.sql and {entry.name}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


def describe_dsn(dsn: str) -> str:
    """``user@host:port/dbname`` for messages: never the password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "an unparsable DATABASE_URL"
    return (f"{parts.get('user', '?')}@{parts.get('host', 'localhost')}:"
            f"{parts.get('port', 5432)}/{parts.get('dbname', '?')}")


def _configure(conn: psycopg.Connection) -> None:
    # Tokens travel as strings everywhere else (JSON, queue messages, Redis keys).
    conn.adapters.register_loader("uuid", TextLoader)


def _configure_unflushed(conn: psycopg.Connection) -> None:
    _configure(conn)
    conn.execute("SET synchronous_commit TO off")


_returned_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
CHECK_AFTER_IDLE = 1.0  # seconds


def mark_returned(conn: psycopg.Connection | psycopg.AsyncConnection) -> None:
    _returned_at[conn] = time.monotonic()


def needs_check(conn: psycopg.Connection | psycopg.AsyncConnection) -> bool:
    """For the pool's check before handing a connection out: a round trip to the server
    only for a connection idle long enough to have lost it (a restart, a network cut); one
    that was in use a moment ago is handed out at once. Under load that saves a round trip
    per query. A connection known to be broken raises at once."""
    if conn.broken or conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    return time.monotonic() - _returned_at.get(conn, 0.0) > CHECK_AFTER_IDLE


def _check_if_idle(conn: psycopg.Connection) -> None:
    if needs_check(conn):
        ConnectionPool.check_connection(conn)


def unreachable_reason(dsn: str, timeout: float) -> str:
    """Why PostgreSQL did not answer, in the server's own words when it gave any."""
    where = describe_dsn(dsn)
    try:
        psycopg.connect(dsn, connect_timeout=max(int(timeout), 2)).close()
    except psycopg.Error as e:
        return f"cannot connect to PostgreSQL as {where}: {str(e).strip()}"
    return f"PostgreSQL as {where} did not accept connections within {timeout:g} s"


class Storage:
    """The database: a pool of connections shared by the threads of one process.

    Construct once per process (after any fork). Connections run in autocommit mode; work that
    needs several statements to be atomic opens an explicit transaction.
    """

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10,
                 open: bool = True, timeout: float = 30.0, flush_commits: bool = True) -> None:
        """``timeout``: how long a caller waits for a connection before PoolTimeout (the API
        uses a short one, so that a database outage is a prompt 503, not a hung request).

        ``flush_commits=False`` (the workers) turns off synchronous_commit: a commit returns
        before its WAL reaches the disk, saving a flush per claim and per verdict. A server
        crash can then forget the last fraction of a second of them: the submission goes
        back to In Queue or Processing and is judged again (leases.py, the reconciler);
        nothing is lost, because accepting a submission (the API's INSERT) stays durable."""
        self.dsn = dsn
        self.pool = ConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, name="judge", timeout=timeout,
            kwargs={"autocommit": True, "row_factory": dict_row},
            configure=_configure if flush_commits else _configure_unflushed,
            # A connection that died with a server restart is replaced, not handed out.
            check=_check_if_idle, reset=mark_returned)
        if open:
            self.open()

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Start the pool. With ``wait``, fail within ``timeout`` seconds if PostgreSQL does
        not accept connections, with the server's own reason in the message."""
        try:
            self.pool.open(wait=wait, timeout=timeout)
        except PoolTimeout:
            self.pool.close()
            raise StorageUnavailable(unreachable_reason(self.dsn, timeout)) from None

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- schema ------------------------------------------------------------------------------

    def migrate(self) -> list[Migration]:
        """Apply the migrations this database has not seen yet; returns those applied.

        Each migration runs in its own transaction together with its ledger row, so a failure
        leaves the database at the previous version. The transaction-scoped advisory lock
        makes concurrent callers (several workers starting at once) queue up: the first
        applies, the others then find the version recorded and skip it.
        """
        applied: list[Migration] = []
        with self.pool.connection() as conn:
            for migration in available_migrations():
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
                    conn.execute(_LEDGER)
                    done = conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s",
                                        (migration.version,)).fetchone()
                    if done:
                        continue
                    conn.execute(migration.sql.encode())  # several statements, no parameters
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                 (migration.version, migration.name))
                log.info("applied migration %s", migration.label)
                applied.append(migration)
        return applied

    def applied_versions(self) -> list[int]:
        """Versions recorded in schema_migrations (empty on a fresh database)."""
        with self.pool.connection() as conn:
            exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS x"
                                  ).fetchone()
            if not exists["x"]:
                return []
            rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version")
            return [row["version"] for row in rows]

    # -- submissions (the statements: judge/store/statements.py) -----------------------------

    def insert_submission(self, row: Mapping[str, Any]) -> None:
        """Store a new submission. ``row`` needs ``token`` and ``language_id``; columns it
        leaves out take their defaults (status 1, timestamps now)."""
        self._execute(statements.insert(row))

    def get_submission(self, token: str) -> dict[str, Any] | None:
        return self._fetchone(statements.select(token))

    def get_many(self, tokens: Sequence[str]) -> list[dict[str, Any] | None]:
        """The submissions for ``tokens``, in the same order; None where a token is unknown.
        One query, whatever the number of tokens; duplicates give the same row twice."""
        many = statements.Many(tokens)
        if many.statement is None:
            return many.ordered([])
        with self.pool.connection() as conn:
            return many.ordered(conn.execute(many.statement.query, many.statement.params))

    def list_submissions(self, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        """One page (1-based) of submissions, newest first, and the total number stored."""
        rows = statements.page(page, per_page)
        with self.pool.connection() as conn, conn.transaction():
            total = conn.execute(statements.COUNT_ALL.query).fetchone()["n"]
            return conn.execute(rows.query, rows.params).fetchall(), total

    def delete_submission(self, token: str) -> dict[str, Any] | None:
        """Delete a finished submission; returns the deleted row, or None if there was none
        (or it is In Queue or Processing: those are never deleted)."""
        return self._fetchone(statements.delete_finished(token))

    def finish_submission(self, token: str, values: Mapping[str, Any]) -> bool:
        """Store a verdict: ``values`` holds a final ``status_id`` and the result columns.

        Applies only while the submission is unfinished, so completion is idempotent: a second
        call (a duplicate job) changes nothing and returns False. ``finished_at`` defaults to
        now.
        """
        return self._fetchone(statements.finish(token, values)) is not None

    def count_pending(self) -> int:
        """Submissions In Queue, waiting for a worker (the ones being judged are not counted,
        as in Judge0's queue-size check)."""
        row = self._fetchone(statements.COUNT_PENDING)
        return row["n"] if row else 0

    # -- helpers -----------------------------------------------------------------------------

    def _fetchone(self, statement: Statement | None) -> dict[str, Any] | None:
        if statement is None:
            return None
        with self.pool.connection() as conn:
            return conn.execute(statement.query, statement.params).fetchone()

    def _execute(self, statement: Statement | None) -> None:
        if statement is None:
            return
        with self.pool.connection() as conn:
            conn.execute(statement.query, statement.params)
