"""The SQL of the submissions table, apart from how it is executed.

The workers and the command line run these statements on psycopg's blocking pool
(judge/store/submissions.py: Storage), the API on its asyncio pool
(judge/store/async_submissions.py: AsyncStorage). Each function returns the statement and its
parameters, or None when the answer is known without asking the server (an invalid token
names no row), so both stores share one definition of every query.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from judge.contract.statuses import Status
from judge.contract.submission.fields import STORED_ATTRIBUTES, parse_token

# Every column of `submissions` but `id` (see judge/store/migrations/0001_submissions.sql): the
# stored attributes of the submission resource, in Judge0's order, then the engine's own.
INTERNAL_COLUMNS = ("callback_status", "callback_attempts", "lease_until", "worker_id",
                    "callback_owner", "callback_lease_until", "problem_version_id")
COLUMNS: tuple[str, ...] = (*STORED_ATTRIBUTES, *INTERNAL_COLUMNS)
# Columns an update never changes: a submission keeps its token for life.
_IMMUTABLE = frozenset({"token"})
IN_QUEUE, PROCESSING = int(Status.IN_QUEUE), int(Status.PROCESSING)
# Any other status is final.
UNFINISHED_STATUSES: tuple[int, ...] = (IN_QUEUE, PROCESSING)
# ... in SQL, as a literal: a parameter would be an array psycopg dumps on every execution
_UNFINISHED = f"({IN_QUEUE}, {PROCESSING})"

# jsonb columns: their Python values (lists, dicts) go to the server as JSON
_JSON_COLUMNS = frozenset({"test_cases"})

assert all(name.isidentifier() and name.islower() for name in COLUMNS)  # nothing to escape
# One literal, not a Composed of 40 identifiers: psycopg would escape each of them again on
# every execution (a third of the worker's query-building CPU).
SELECT_LIST = sql.SQL(", ".join(f'"{name}"' for name in COLUMNS))


@dataclass(frozen=True)
class Statement:
    query: sql.Composable | str
    params: Sequence[Any]


def _checked_columns(values: Mapping[str, Any], writable: bool = False) -> list[str]:
    unknown = [name for name in values if name not in COLUMNS]
    if writable:
        unknown += [name for name in values if name in _IMMUTABLE]
    if unknown:
        raise ValueError(f"not a settable submissions column: {', '.join(unknown)}")
    return list(values)


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
                   f"WHERE token = %s AND status_id IN {_UNFINISHED} RETURNING token")


_SELECT_ONE = sql.SQL("SELECT {} FROM submissions WHERE token = %s").format(SELECT_LIST)
_SELECT_MANY = sql.SQL("SELECT {} FROM submissions WHERE token = ANY(%s)").format(SELECT_LIST)
_SELECT_PAGE = sql.SQL("SELECT {} FROM submissions ORDER BY created_at DESC, id DESC "
                       "LIMIT %s OFFSET %s").format(SELECT_LIST)
_DELETE_FINISHED = sql.SQL(f"DELETE FROM submissions WHERE token = %s "  # noqa: S608
                           f"AND status_id NOT IN {_UNFINISHED} RETURNING {{}}").format(SELECT_LIST)
COUNT_ALL = Statement("SELECT count(*) AS n FROM submissions", ())
COUNT_PENDING = Statement("SELECT count(*) AS n FROM submissions WHERE status_id = %s",
                          (IN_QUEUE,))


def insert(row: Mapping[str, Any]) -> Statement:
    """Store a new submission. ``row`` needs ``token`` and ``language_id``; columns it
    leaves out take their defaults (status 1, timestamps now)."""
    names = tuple(_checked_columns(row))
    return Statement(_insert_query(names), [row[name] for name in names])


def select(token: str) -> Statement | None:
    key = parse_token(token)
    return None if key is None else Statement(_SELECT_ONE, [key])


class Many:
    """The submissions for ``tokens``, in the same order, None where a token is unknown: one
    query whatever their number (``statement`` is None when no token is valid), then
    ``ordered`` puts its rows in place; duplicates give the same row twice."""

    def __init__(self, tokens: Sequence[str]):
        self.keys = [parse_token(token) for token in tokens]
        wanted = list({key for key in self.keys if key is not None})
        self.statement = Statement(_SELECT_MANY, [wanted]) if wanted else None

    def ordered(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
        found = {row["token"]: row for row in rows}
        return [found.get(str(key)) if key else None for key in self.keys]


def page(page: int, per_page: int) -> Statement:
    """One page (1-based) of submissions, newest first (run with COUNT_ALL in a transaction
    for the total)."""
    if page < 1 or per_page < 1:
        raise ValueError(f"page and per_page must be positive, got {page} and {per_page}")
    return Statement(_SELECT_PAGE, [per_page, (page - 1) * per_page])


def delete_finished(token: str) -> Statement | None:
    """Delete a finished submission, returning it. A submission In Queue or Processing is
    never deleted (a worker may be judging it, and Judge0 refuses with 400), so a caller
    that checked the status first is race-free."""
    key = parse_token(token)
    return None if key is None else Statement(_DELETE_FINISHED, [key])


def finish(token: str, values: Mapping[str, Any]) -> Statement | None:
    """Store a verdict while the submission is unfinished (see Storage.finish_submission)."""
    status = values.get("status_id")
    if status is None or int(status) in UNFINISHED_STATUSES:
        raise ValueError(f"finish_submission needs a final status_id, got {status!r}")
    key = parse_token(token)
    if key is None:
        return None
    names = tuple(_checked_columns(values, writable=True))
    now_columns = tuple(name for name in ("updated_at", "finished_at") if name not in values)
    params = [_param(name, values[name]) for name in names] + [key]
    return Statement(_finish_query(names, now_columns), params)


def _param(name: str, value: Any) -> Any:
    return Jsonb(value) if name in _JSON_COLUMNS and value is not None else value
