"""Retention (judge/store/retention.py) on the real PostgreSQL: finished submissions older than the
setting are purged in bounded batches; recent, unfinished and timestamp-less ones stay; one
purge at a time; off by default."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from judge.config import Config, ConfigError
from judge.store.retention import RETENTION_LOCK_KEY, Retention
from judge.store.submissions import Storage
from tests.e2e.conftest import isolated_database

DAY = 86400.0


@pytest.fixture
def db(database_url: str) -> Iterator[Storage]:
    """Tables of its own, so that the counts are exact."""
    with isolated_database(database_url, "ops_retention") as url, Storage(url, max_size=3) as s:
        yield s


def add(db: Storage, status_id: int, finished_days_ago: float | None, count: int = 1
        ) -> list[str]:
    """Submissions with that status, finished that many days ago (None: not finished)."""
    tokens = [str(uuid.uuid4()) for _ in range(count)]
    with db.pool.connection() as conn:
        conn.cursor().executemany(
            "INSERT INTO submissions (token, language_id, status_id, finished_at) VALUES "
            "(%s, 71, %s, CASE WHEN %s::float8 IS NULL THEN NULL "
            "ELSE now() - make_interval(secs => %s::float8) END)",
            [(token, status_id, finished_days_ago, (finished_days_ago or 0) * DAY)
             for token in tokens])
    return tokens


def remaining(db: Storage) -> set[str]:
    with db.pool.connection() as conn:
        return {row["token"] for row in conn.execute("SELECT token FROM submissions")}


def test_old_finished_submissions_are_purged_and_the_rest_kept(db):
    old = add(db, 3, 31, count=3) + add(db, 6, 40) + add(db, 13, 365)
    recent = add(db, 3, 29) + add(db, 11, 0.5)
    # unfinished ones are never purged, even with an old finished_at (a re-queued submission)
    unfinished = add(db, 1, 90) + add(db, 2, 90) + add(db, 1, None)
    assert Retention(db, 30 * DAY, pause=0).purge() == len(old)
    assert remaining(db) == set(recent + unfinished)
    assert Retention(db, 30 * DAY, pause=0).purge() == 0


def test_a_purge_deletes_in_batches_and_stops_after_its_bound(db):
    add(db, 3, 31, count=25)
    keep = add(db, 3, 1)
    retention = Retention(db, 30 * DAY, batch_size=4, max_batches=3, pause=0)
    assert retention.purge() == 12  # three batches of four, the rest is left for later
    assert retention.purge() == 12
    assert retention.purge() == 1
    assert remaining(db) == set(keep)


def test_a_backlog_is_worked_off_at_the_next_pass_otherwise_it_waits(db):
    add(db, 3, 31, count=5)
    retention = Retention(db, 30 * DAY, batch_size=2, max_batches=2, pause=0, every=3600)
    assert retention.run_if_due() == 4  # a full pass: more may remain, due again at once
    assert retention.run_if_due() == 1
    add(db, 3, 31)
    assert retention.run_if_due() is None  # caught up: not before `every` seconds
    assert len(remaining(db)) == 1


def test_only_one_purge_runs_at_a_time_across_processes(db):
    add(db, 3, 31)
    with psycopg.connect(db.dsn, autocommit=True) as other:  # another worker's purge
        other.execute("SELECT pg_advisory_lock(%s)", [RETENTION_LOCK_KEY])
        assert Retention(db, 30 * DAY).purge() is None
        other.execute("SELECT pg_advisory_unlock(%s)", [RETENTION_LOCK_KEY])
    assert Retention(db, 30 * DAY).purge() == 1


def test_a_stopping_worker_ends_the_purge_between_batches(db):
    add(db, 3, 31, count=10)
    stop = threading.Event()
    stop.set()
    assert Retention(db, 30 * DAY, batch_size=3, pause=0).purge(stop) == 3
    assert len(remaining(db)) == 7


def test_retention_is_off_by_default():
    assert Config().submission_retention == 0
    assert Config.load(environ={"SUBMISSION_RETENTION": "off"}).submission_retention == 0
    with pytest.raises(ValueError, match="positive"):
        Retention(None, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "seconds"), [
    ("86400", 86400), ("90s", 90), ("15m", 900), ("12h", 43200), ("30d", 2592000),
    ("2w", 1209600), ("1.5h", 5400), (" 7D ", 604800), ("0", 0), ("", 0),
])
def test_the_retention_is_a_duration(raw, seconds):
    assert Config.load(environ={"SUBMISSION_RETENTION": raw}).submission_retention == seconds


@pytest.mark.parametrize("raw", ["30 days", "-1d", "1y", "d", "30d12h"])
def test_a_retention_that_is_not_a_duration_is_refused(raw):
    with pytest.raises(ConfigError, match="expected a duration"):
        Config.load(environ={"SUBMISSION_RETENTION": raw})
