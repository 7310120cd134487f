"""PostgreSQL, the source of truth: the connection pool, schema migrations, and the submissions.

A submission exists once its row is committed; the queue only carries its token. Every state
change a worker makes is a single conditional UPDATE, so two workers that got the same token
(a re-queued job, a retried one) cannot both complete it: the first final write wins.

Rows are dicts keyed by column name: text attributes as ``bytes``, decimals as ``Decimal``,
timestamps as aware ``datetime``, and the token as its ``str`` form.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from judge.contract.statuses import Status
from judge.contract.submission.fields import STORED_ATTRIBUTES, parse_token

log = logging.getLogger(__name__)

# Every column of `submissions` but `id` (see judge/store/migrations/0001_submissions.sql): the
# stored attributes of the submission resource, in Judge0's order, then the engine's own.
INTERNAL_COLUMNS = ("callback_status", "callback_attempts", "lease_until", "worker_id")
COLUMNS: tuple[str, ...] = (*STORED_ATTRIBUTES, *INTERNAL_COLUMNS)
# Columns an update never changes: a submission keeps its token for life.
_IMMUTABLE = frozenset({"token"})
IN_QUEUE, PROCESSING = int(Status.IN_QUEUE), int(Status.PROCESSING)
# Any other status is final.
UNFINISHED_STATUSES: tuple[int, ...] = (IN_QUEUE, PROCESSING)

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

SELECT_LIST = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))


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


def _checked_columns(values: Mapping[str, Any], writable: bool = False) -> list[str]:
    unknown = [name for name in values if name not in COLUMNS]
    if writable:
        unknown += [name for name in values if name in _IMMUTABLE]
    if unknown:
        raise ValueError(f"not a settable submissions column: {', '.join(unknown)}")
    return list(values)


def _configure(conn: psycopg.Connection) -> None:
    # Tokens travel as strings everywhere else (JSON, queue messages, Redis keys).
    conn.adapters.register_loader("uuid", TextLoader)


def _configure_unflushed(conn: psycopg.Connection) -> None:
    _configure(conn)
    conn.execute("SET synchronous_commit TO off")


@functools.lru_cache(maxsize=64)
def _insert_query(names: tuple[str, ...]) -> sql.SQL:
    """The INSERT for these (checked) columns, composed once: the API inserts the same few
    column sets over and over, and the same text lets psycopg prepare it server-side."""
    columns = ", ".join(f'"{name}"' for name in names)  # names are COLUMNS entries
    return sql.SQL(f"INSERT INTO submissions ({columns}) "  # noqa: S608
                   f"VALUES ({', '.join(['%s'] * len(names))})")


@functools.lru_cache(maxsize=64)
def _finish_query(names: tuple[str, ...], now_columns: tuple[str, ...]) -> sql.SQL:
    """The UPDATE storing a verdict in these (checked) columns, and now() in `now_columns`,
    while the row is unfinished; composed once per column set, like the INSERT."""
    sets = [f'"{name}" = %s' for name in names] + [f'"{name}" = now()' for name in now_columns]
    return sql.SQL(f"UPDATE submissions SET {', '.join(sets)} "  # noqa: S608
                   "WHERE token = %s AND status_id = ANY(%s) RETURNING token")


_returned_at: weakref.WeakKeyDictionary[psycopg.Connection, float] = weakref.WeakKeyDictionary()
CHECK_AFTER_IDLE = 1.0  # seconds


def _mark_returned(conn: psycopg.Connection) -> None:
    _returned_at[conn] = time.monotonic()


def _check_if_idle(conn: psycopg.Connection) -> None:
    """The pool's check before handing a connection out: a round trip to the server only for
    a connection idle long enough to have lost it (a restart, a network cut); one that was
    in use a moment ago is handed out at once. Under load that saves a round trip per query."""
    if conn.broken or conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    if time.monotonic() - _returned_at.get(conn, 0.0) > CHECK_AFTER_IDLE:
        ConnectionPool.check_connection(conn)


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
            check=_check_if_idle, reset=_mark_returned)
        if open:
            self.open()

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Start the pool. With ``wait``, fail within ``timeout`` seconds if PostgreSQL does
        not accept connections, with the server's own reason in the message."""
        try:
            self.pool.open(wait=wait, timeout=timeout)
        except PoolTimeout:
            self.pool.close()
            raise StorageUnavailable(self._unreachable_reason(timeout)) from None

    def _unreachable_reason(self, timeout: float) -> str:
        where = describe_dsn(self.dsn)
        try:
            psycopg.connect(self.dsn, connect_timeout=max(int(timeout), 2)).close()
        except psycopg.Error as e:
            return f"cannot connect to PostgreSQL as {where}: {str(e).strip()}"
        return f"PostgreSQL as {where} did not accept connections within {timeout:g} s"

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

    # -- submissions -------------------------------------------------------------------------

    def insert_submission(self, row: Mapping[str, Any]) -> None:
        """Store a new submission. ``row`` needs ``token`` and ``language_id``; columns it
        leaves out take their defaults (status 1, timestamps now)."""
        names = tuple(_checked_columns(row))
        self._execute(_insert_query(names), [row[name] for name in names])

    def get_submission(self, token: str) -> dict[str, Any] | None:
        key = parse_token(token)
        if key is None:
            return None
        query = sql.SQL("SELECT {} FROM submissions WHERE token = %s").format(SELECT_LIST)
        return self._fetchone(query, [key])

    def get_many(self, tokens: Sequence[str]) -> list[dict[str, Any] | None]:
        """The submissions for ``tokens``, in the same order; None where a token is unknown.
        One query, whatever the number of tokens; duplicates give the same row twice."""
        keys = [parse_token(token) for token in tokens]
        wanted = list({key for key in keys if key is not None})
        if not wanted:
            return [None] * len(keys)
        query = sql.SQL("SELECT {} FROM submissions WHERE token = ANY(%s)").format(SELECT_LIST)
        with self.pool.connection() as conn:
            found = {row["token"]: row for row in conn.execute(query, [wanted])}
        return [found.get(str(key)) if key else None for key in keys]

    def list_submissions(self, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        """One page (1-based) of submissions, newest first, and the total number stored."""
        if page < 1 or per_page < 1:
            raise ValueError(f"page and per_page must be positive, got {page} and {per_page}")
        query = sql.SQL("SELECT {} FROM submissions ORDER BY created_at DESC, id DESC "
                        "LIMIT %s OFFSET %s").format(SELECT_LIST)
        with self.pool.connection() as conn, conn.transaction():
            total = conn.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"]
            rows = conn.execute(query, [per_page, (page - 1) * per_page]).fetchall()
        return rows, total

    def delete_submission(self, token: str) -> dict[str, Any] | None:
        """Delete a finished submission; returns the deleted row, or None if there was none.

        A submission In Queue or Processing is never deleted (a worker may be judging it, and
        Judge0 refuses with 400), so a caller that checked the status first is race-free.
        """
        key = parse_token(token)
        if key is None:
            return None
        query = sql.SQL("DELETE FROM submissions WHERE token = %s AND status_id <> ALL(%s) "
                        "RETURNING {}").format(SELECT_LIST)
        return self._fetchone(query, [key, list(UNFINISHED_STATUSES)])

    def finish_submission(self, token: str, values: Mapping[str, Any]) -> bool:
        """Store a verdict: ``values`` holds a final ``status_id`` and the result columns.

        Applies only while the submission is unfinished, so completion is idempotent: a second
        call (a duplicate job) changes nothing and returns False. ``finished_at`` defaults to
        now.
        """
        status = values.get("status_id")
        if status is None or int(status) in UNFINISHED_STATUSES:
            raise ValueError(f"finish_submission needs a final status_id, got {status!r}")
        key = parse_token(token)
        if key is None:
            return False
        names = tuple(_checked_columns(values, writable=True))
        now_columns = tuple(name for name in ("updated_at", "finished_at") if name not in values)
        params = [values[name] for name in names] + [key, list(UNFINISHED_STATUSES)]
        return self._fetchone(_finish_query(names, now_columns), params) is not None

    def record_callback(self, token: str, status: str, attempts: int) -> None:
        """Store how the submission's callback went (judge/callbacks.py): the outcome of the
        last attempt and the number of attempts."""
        key = parse_token(token)
        if key is not None:
            self._execute(sql.SQL("UPDATE submissions SET callback_status = %s, "
                                  "callback_attempts = %s WHERE token = %s"),
                          [status, attempts, key])

    def count_pending(self) -> int:
        """Submissions In Queue, waiting for a worker (the ones being judged are not counted,
        as in Judge0's queue-size check)."""
        row = self._fetchone("SELECT count(*) AS n FROM submissions WHERE status_id = %s",
                             [IN_QUEUE])
        return row["n"] if row else 0

    # -- helpers -----------------------------------------------------------------------------

    def _fetchone(self, query: sql.Composable | str, params: Sequence[Any]
                  ) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            return conn.execute(query, params).fetchone()

    def _execute(self, query: sql.Composable, params: Sequence[Any]) -> None:
        with self.pool.connection() as conn:
            conn.execute(query, params)
