"""``GET /statistics`` (§10.5): usage counts, computed from PostgreSQL and cached for ten
minutes in Redis, so that every API process serves (and invalidates) the same snapshot and a
dashboard polling it does not scan the submissions table each time."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Protocol

import redis

from judge.contract.languages import Language
from judge.contract.statuses import Status
from judge.store.submissions import Storage

log = logging.getLogger(__name__)
CACHE_KEY = "judge:statistics"
CACHE_SECONDS = 600
DAYS = 30


class _Languages(Protocol):
    def get(self, language_id: int | None) -> Language | None: ...


def _stamp(moment: dt.datetime) -> str:
    """Ruby DateTime's rendering, e.g. ``2024-04-18T10:19:35.123+00:00`` (not the ``Z`` of
    submission timestamps)."""
    return moment.isoformat(timespec="milliseconds")


def compute(storage: Storage, languages: _Languages, now: dt.datetime | None = None
            ) -> dict[str, Any]:
    """The statistics body, in Judge0's shape and key order."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.date()
    first = today - dt.timedelta(days=DAYS)
    with storage.pool.connection() as conn, conn.transaction():
        total = conn.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"]
        per_day = {row["day"]: row["n"] for row in conn.execute(
            "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n "
            "FROM submissions WHERE created_at >= %s GROUP BY 1",
            [dt.datetime.combine(first, dt.time(), dt.UTC)])}
        by_language = conn.execute(
            "SELECT language_id AS id, count(*) AS n FROM submissions GROUP BY 1 "
            "ORDER BY 2 DESC, 1").fetchall()
        by_status = conn.execute(
            "SELECT status_id AS id, count(*) AS n FROM submissions GROUP BY 1 "
            "ORDER BY 2 DESC, 1").fetchall()
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database())) AS p, "
                            "pg_database_size(current_database()) AS b").fetchone()
    days = [today - dt.timedelta(days=n) for n in range(1, DAYS + 1)]  # yesterday first
    return {
        "created_at": _stamp(now),
        "cached_until": _stamp(now + dt.timedelta(seconds=CACHE_SECONDS)),
        "submissions": {
            "total": total,
            "today": per_day.get(today, 0),
            "last_30_days": {day.isoformat(): per_day.get(day, 0) for day in days},
        },
        "languages": [{"language": {"id": row["id"], "name": _language_name(languages, row["id"])},
                       "count": row["n"]} for row in by_language],
        "statuses": [{"status": {"id": row["id"], "name": _status_name(row["id"])},
                      "count": row["n"]} for row in by_status],
        "database": {"size_pretty": size["p"], "size_in_bytes": size["b"]},
    }


def _language_name(languages: _Languages, language_id: int) -> str | None:
    language = languages.get(language_id)
    return language.name if language else None


def _status_name(status_id: int) -> str | None:
    try:
        return Status(status_id).description
    except ValueError:
        return None


class Statistics:
    """The cached statistics, shared by all API processes through Redis."""

    def __init__(self, storage: Storage, languages: _Languages, cache: redis.Redis):
        self.storage, self.languages, self.cache = storage, languages, cache

    def get(self, invalidate: bool = False) -> dict[str, Any]:
        try:
            if invalidate:
                self.cache.delete(CACHE_KEY)
            else:
                cached = self.cache.get(CACHE_KEY)
                if cached is not None:
                    return json.loads(cached)
        except redis.exceptions.RedisError as e:  # no cache: still answer, just slower
            log.warning("statistics cache unavailable: %s", e)
            return compute(self.storage, self.languages)
        body = compute(self.storage, self.languages)
        try:
            self.cache.set(CACHE_KEY, json.dumps(body), ex=CACHE_SECONDS)
        except redis.exceptions.RedisError as e:
            log.warning("cannot cache statistics: %s", e)
        return body
