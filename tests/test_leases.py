"""Work leases and the reconciler's queries, against the real test database."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from judge.store.leases import Leases
from judge.store.submissions import Storage

from .waiting import wait_for


@pytest.fixture
def leases(clean_db: Storage) -> Leases:
    return Leases(clean_db, seconds=30)


def add(storage: Storage, **overrides) -> str:
    token = str(uuid.uuid4())
    storage.insert_submission({"token": token, "language_id": 71, "source_code": b"print(1)",
                               **overrides})
    return token


def expire(storage: Storage, token: str) -> None:
    with storage.pool.connection() as conn:
        conn.execute("UPDATE submissions SET lease_until = now() - interval '1 second' "
                     "WHERE token = %s", [token])


def test_claim_takes_a_queued_submission_and_returns_the_row(leases, clean_db):
    token = add(clean_db)
    row = leases.claim(token, "host-1", "w1")
    assert (row["status_id"], row["execution_host"], row["worker_id"]) == (2, "host-1", "w1")
    assert row["started_at"] is not None and row["lease_until"] > row["started_at"]


def test_a_live_lease_cannot_be_claimed_twice(leases, clean_db):
    token = add(clean_db)
    assert leases.claim(token, "h", "w1") is not None
    assert leases.claim(token, "h", "w2") is None


def test_an_expired_lease_is_claimed_by_the_next_worker(leases, clean_db):
    token = add(clean_db)
    leases.claim(token, "h", "dead")
    expire(clean_db, token)
    assert leases.claim(token, "h", "w2")["worker_id"] == "w2"
    assert leases.renew(token, "dead") is False  # the dead worker lost it for good
    assert leases.renew(token, "w2") is True


def test_final_and_unknown_submissions_are_never_claimed(leases, clean_db):
    token = add(clean_db, status_id=3)
    assert leases.claim(token, "h", "w") is None
    assert leases.claim(str(uuid.uuid4()), "h", "w") is None
    assert leases.claim("not-a-token", "h", "w") is None


def test_of_many_simultaneous_claims_exactly_one_wins(leases, clean_db):
    token = add(clean_db)
    start = threading.Barrier(4)

    def claim(worker: str):
        start.wait()
        return leases.claim(token, "h", worker)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(claim, ["a", "b", "c", "d"]))
    assert sum(r is not None for r in results) == 1


def test_renew_moves_the_lease_forward(leases, clean_db):
    token = add(clean_db)
    first = leases.claim(token, "h", "w")["lease_until"]
    time.sleep(0.01)
    assert leases.renew(token, "w")
    assert clean_db.get_submission(token)["lease_until"] > first


def test_requeue_expired_puts_dead_workers_submissions_back_in_queue(leases, clean_db):
    dead, alive = add(clean_db), add(clean_db)
    leases.claim(dead, "h", "dead")
    leases.claim(alive, "h", "alive")
    expire(clean_db, dead)
    assert leases.requeue_expired() == [dead]
    row = clean_db.get_submission(dead)
    assert (row["status_id"], row["worker_id"]) == (1, None)
    assert clean_db.get_submission(alive)["status_id"] == 2
    assert leases.requeue_expired() == []


def test_waiting_since_lists_old_queued_submissions_oldest_first(leases, clean_db):
    old1, old2 = add(clean_db), add(clean_db)
    with clean_db.pool.connection() as conn:
        conn.execute("UPDATE submissions SET queued_at = now() - interval '1 minute'")
    fresh = add(clean_db)
    leases.claim(old2, "h", "w")
    assert leases.waiting_since(30) == [old1]
    assert fresh not in leases.waiting_since(30)


def test_only_one_reconciliation_pass_runs_at_a_time(leases):
    inside = threading.Event()
    release = threading.Event()
    results = []

    def first():
        with leases.exclusive_pass() as mine:
            results.append(mine)
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with leases.exclusive_pass() as mine:
        results.append(mine)
    release.set()
    thread.join()
    with leases.exclusive_pass() as mine:
        results.append(mine)
    assert results == [True, False, True]


def lease(storage: Storage, token: str) -> tuple[int, str, dt.datetime, bool]:
    """Status, worker, lease end, and whether the lease is still running (the server's clock)."""
    with storage.pool.connection() as conn:
        row = conn.execute("SELECT status_id, worker_id, lease_until, lease_until > now() AS live "
                           "FROM submissions WHERE token = %s", [token]).fetchone()
    return row["status_id"], row["worker_id"], row["lease_until"], row["live"]


def test_a_worker_keeps_the_lease_of_a_long_job_and_lets_it_go_after(clean_db):
    """States only, no durations: other tests' reconcilers share this database, so the lease
    is never left to run out while the test looks."""
    from workers.jobs import LeaseRenewer

    leases = Leases(clean_db, seconds=4)  # renewed every 1.33 s
    token = add(clean_db)
    claimed_until = leases.claim(token, "h", "w")["lease_until"]
    with LeaseRenewer(leases, "w").holding(token):
        for _ in range(2):  # renewed, then renewed again by the same thread
            held_until = lease(clean_db, token)[2]
            wait_for(lambda until=held_until: lease(clean_db, token)[2] > until, "a renewal")
        status, worker, until, live = lease(clean_db, token)
        assert (status, worker, live) == (2, "w", True) and until > claimed_until
    time.sleep(0.3)  # a renewal under way as the job ended has landed
    ended = lease(clean_db, token)
    time.sleep(1.5)  # longer than a renewal period, shorter than the 2.7 s or more left
    assert lease(clean_db, token)[:3] == ended[:3]  # nobody renews it any more
