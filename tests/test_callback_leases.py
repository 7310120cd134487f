"""Callback claims and the reconciler's re-send, against the real test database, Redis and a
real receiver on 127.0.0.1: a callback is re-sent only once its owner stopped renewing its
claim, never while a live worker is still delivering it or has it queued.

The tables live in a schema of their own, so that no other test session's reconciler (an e2e
engine on the same database) takes these callbacks. No test measures a duration: they wait
for states (a claim that would have run out by now, a process that is gone) and then count
what the receiver saw."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from judge.callbacks import CallbackSender
from judge.config import Config
from judge.queue import JobQueue
from judge.store.leases import Leases
from judge.store.submissions import Storage
from workers.reconciler import Reconciler

from .e2e.conftest import isolated_database
from .e2e.test_api_callbacks import Receiver
from .unit.test_callbacks import OVERRUN, TRICKLED, attempts_seen, trickling
from .waiting import wait_for

LEASE = 3.0  # renewed every second


@pytest.fixture(scope="module")
def schema_url(database_url: str) -> Iterator[str]:
    with isolated_database(database_url, f"callback_leases_{uuid.uuid4().hex[:8]}") as url:
        yield url


@pytest.fixture
def db(schema_url: str) -> Iterator[Storage]:
    with Storage(schema_url, max_size=4) as storage:
        with storage.pool.connection() as conn:
            conn.execute("TRUNCATE submissions RESTART IDENTITY")
        yield storage


@pytest.fixture
def leases(db: Storage) -> Leases:
    return Leases(db, seconds=LEASE)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """`/hold` answers once the test sets `receiver.release`; every request is recorded."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def config(schema_url: str) -> Config:
    """Deliveries that wait for the receiver as long as a test needs (90 s deadline), and a
    reconciler that would re-send any callback whose claim ran out, however recent."""
    return replace(Config(), database_url=schema_url, lease_seconds=LEASE,
                   callbacks_timeout=30.0, callbacks_max_tries=3, callbacks_threads=1,
                   callbacks_resend_after=0.0)


@pytest.fixture
def reconcile(leases: Leases, config: Config, redis_url: str) -> Iterator[Any]:
    """One reconciliation pass at a time, handing orphaned callbacks to a second worker's
    pool (owner "rescuer"); yields the pass and that pool."""
    rescuer = CallbackSender(config, owner="rescuer")
    queue = JobQueue(redis_url, f"test-callback-leases-{uuid.uuid4().hex[:8]}")
    reconciler = Reconciler(leases, queue, interval=60, queued_after=3600,
                            resend=rescuer.submit, callbacks_after=config.callbacks_resend_after)
    try:
        yield reconciler.run_once, rescuer
    finally:
        rescuer.close()
        queue.close()


def judged(db: Storage, url: str = "http://127.0.0.1:9/", **columns: Any) -> str:
    """A submission judged an hour ago whose callback is pending (as a worker's final write
    leaves it), with `columns` on top."""
    token = str(uuid.uuid4())
    db.insert_submission({"token": token, "language_id": 71, "source_code": b"print(1)",
                          "status_id": 3, "callback_url": url, "callback_status": "pending"})
    values = {"finished_at": dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), **columns}
    assignments = ", ".join(f"{name} = %s" for name in values)  # this file's own names
    with db.pool.connection() as conn:
        conn.execute(f"UPDATE submissions SET {assignments} WHERE token = %s",  # noqa: S608
                     [*values.values(), token])
    return token


def claim(db: Storage, token: str) -> dict[str, Any]:
    """The callback's status, attempts, owner, claim end, and whether the claim still runs
    (by the database's clock)."""
    with db.pool.connection() as conn:
        return conn.execute(
            "SELECT callback_status AS status, callback_attempts AS attempts, "
            "callback_owner AS owner, callback_lease_until AS until, "
            "coalesce(callback_lease_until > now(), false) AS live "
            "FROM submissions WHERE token = %s", [token]).fetchone()


def run_out(db: Storage, token: str) -> None:
    with db.pool.connection() as conn:
        conn.execute("UPDATE submissions SET callback_lease_until = now() - interval '1 second' "
                     "WHERE token = %s", [token])


def past(db: Storage, moment: dt.datetime) -> bool:
    with db.pool.connection() as conn:
        return conn.execute("SELECT now() > %s AS past", [moment]).fetchone()["past"]


# -- the claims ------------------------------------------------------------------------------

def test_a_pending_callback_is_claimed_by_one_owner_and_renewed_only_by_it(db, leases):
    token = judged(db)
    assert leases.hold_callbacks([token], "a") == {token}
    first = claim(db, token)
    assert (first["owner"], first["live"]) == ("a", True)
    assert leases.hold_callbacks([token], "b") == set()
    assert leases.hold_callbacks([token, "not-a-token"], "a") == {token}
    assert claim(db, token)["until"] > first["until"]


def test_only_pending_callbacks_whose_claim_ran_out_are_re_sent(db, leases):
    live, expired, unclaimed = judged(db), judged(db), judged(db)
    recent = judged(db, finished_at=dt.datetime.now(dt.UTC))
    delivered = judged(db, callback_status="delivered: HTTP 200")
    leases.hold_callbacks([live, expired, delivered], "owner")
    run_out(db, expired)
    orphans = leases.orphaned_callbacks(60)
    assert sorted(orphans) == sorted([(expired, "http://127.0.0.1:9/"),
                                      (unclaimed, "http://127.0.0.1:9/")])
    assert recent not in dict(orphans)  # its worker may not have claimed it yet
    handed = claim(db, expired)
    assert (handed["status"], handed["owner"], handed["live"]) == ("pending: re-sent", None,
                                                                   True)
    assert leases.orphaned_callbacks(60) == []  # reserved for the worker it was handed to
    assert leases.hold_callbacks([expired], "rescuer") == {expired}
    assert leases.hold_callbacks([expired], "owner") == set()  # the old owner lost it


def test_a_re_sent_callback_whose_new_owner_died_too_is_re_sent_again(db, leases):
    token = judged(db, callback_status="pending: re-sent", callback_owner="dead",
                   callback_lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert leases.orphaned_callbacks(60) == [(token, "http://127.0.0.1:9/")]


def test_the_outcome_is_stored_only_by_the_owner_and_ends_the_claim(db, leases):
    token = judged(db)
    leases.hold_callbacks([token], "a")
    assert not leases.settle_callback(token, "b", "delivered: HTTP 200", 1)
    assert leases.settle_callback(token, "a", "delivered: HTTP 204", 2)
    assert claim(db, token) == {"status": "delivered: HTTP 204", "attempts": 2, "owner": "a",
                                "until": None, "live": False}
    assert leases.hold_callbacks([token], "a") == set()  # settled: nothing left to claim
    assert leases.orphaned_callbacks(0) == []


# -- the reconciler against live and dead owners ---------------------------------------------

def test_the_reconciler_leaves_a_live_owners_slow_and_queued_deliveries_alone(
        db, config, receiver, reconcile):
    """One delivery thread: the first callback is held by the receiver, the second waits in
    the pool. A pass once both first claims would have run out re-sends neither."""
    run_once, rescuer = reconcile
    owner = CallbackSender(config, owner="owner")
    try:
        slow, queued = judged(db, f"{receiver.url}/hold"), judged(db, f"{receiver.url}/hold")
        owner.submit(slow, f"{receiver.url}/hold")
        owner.submit(queued, f"{receiver.url}/hold")
        assert receiver.next(30).json()["token"] == slow  # being delivered, held there
        claimed = [wait_for(lambda t=t: claim(db, t)["owner"] == "owner" and claim(db, t),
                            "the owner's claim") for t in (slow, queued)]
        wait_for(lambda: past(db, max(c["until"] for c in claimed)),
                 "the first claims' end", 30)
        run_once()
        assert [claim(db, t)["owner"] for t in (slow, queued)] == ["owner", "owner"]
        assert all(claim(db, t)["live"] for t in (slow, queued))  # renewed meanwhile
        receiver.release.set()
        second = receiver.next(30)
        for token in (slow, queued):
            wait_for(lambda t=token: claim(db, t)["status"] == "delivered: HTTP 200",
                     "the owner's delivery", 30)
            assert (claim(db, token)["attempts"], claim(db, token)["owner"]) == (1, "owner")
    finally:
        receiver.release.set()
        owner.close()
    assert second.json()["token"] == queued
    run_once()
    assert receiver.requests.empty()  # two callbacks, two requests: nothing sent twice


OWNER_PROCESS = """
import sys, time
from judge.callbacks import CallbackSender
from judge.config import Config
CallbackSender(Config.load(), owner="doomed").submit(sys.argv[1], sys.argv[2])
time.sleep(600)
"""


def test_the_reconciler_re_sends_once_the_owner_is_gone(db, config, receiver, reconcile):
    """The owner is a real process, killed while its receiver holds the delivery."""
    run_once, rescuer = reconcile
    url = f"{receiver.url}/hold"
    token = judged(db, url)
    env = {"DATABASE_URL": config.database_url, "LEASE_SECONDS": str(LEASE),
           "CALLBACKS_TIMEOUT": "30", "LOG_LEVEL": "WARNING"}
    doomed = subprocess.Popen([sys.executable, "-c", OWNER_PROCESS, token, url], env=env)
    try:
        assert receiver.next(60).json()["token"] == token  # the owner is delivering
        wait_for(lambda: claim(db, token)["owner"] == "doomed", "the owner's claim")
        run_once()
        assert claim(db, token)["owner"] == "doomed"  # alive: left alone
        doomed.kill()
        doomed.wait(30)
        receiver.release.set()  # from now on the receiver answers at once
        wait_for(lambda: not claim(db, token)["live"], "the dead owner's claim to run out", 30)
        run_once()
        again = receiver.next(30)
        wait_for(lambda: claim(db, token)["status"] == "delivered: HTTP 200",
                 "the re-sent callback delivered", 30)
    finally:
        doomed.kill()
        doomed.wait(30)
    assert again.method == "PUT" and again.json()["token"] == token
    assert (claim(db, token)["owner"], claim(db, token)["attempts"]) == ("rescuer", 1)
    run_once()
    assert receiver.requests.empty()  # the owner's request and the one re-send, no more


def test_a_trickling_receiver_gets_callbacks_max_tries_attempts_in_all(db, config, reconcile):
    """Issue 18's receiver: slow 302s to itself. Reconciliation passes run all through the
    delivery, which outlasts a claim's first lease: 3 attempts in all, none of them the
    reconciler's, each ended by its deadline."""
    run_once, rescuer = reconcile
    owner = CallbackSender(replace(config, **TRICKLED), owner="owner")
    try:
        with trickling(answer_seconds=0.5) as url:
            token = judged(db, url)
            owner.submit(token, url)

            def settled() -> bool:
                run_once()
                return claim(db, token)["status"] not in ("pending", "pending: re-sent")

            wait_for(settled, "the delivery's outcome", 60)
            run_once()
    finally:
        owner.close()
    done = claim(db, token)
    assert done["status"].startswith(OVERRUN)
    assert (done["attempts"], done["owner"]) == (3, "owner")
    attempts = attempts_seen()
    assert len(attempts) == 3 and all(len(hops) <= 3 for hops in attempts), attempts
