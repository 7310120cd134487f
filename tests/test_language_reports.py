"""What workers report about their languages, against a real Redis: publishing, expiry, the
API's view of it (union of finished reports, fallback), and the worker's reporter thread."""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from judge.contract.languages import Language, LanguageCatalog
from judge.language_reports import LanguageReports
from workers.reporter import LanguageReporter


def reports(conn: redis.Redis, **options) -> LanguageReports:
    return LanguageReports(conn, "test-queue", **{"cache_seconds": 0, **options})


def test_a_published_report_is_live_until_withdrawn(redis_conn):
    r = reports(redis_conn)
    r.publish("w1", [71, 50, 71], done=False)
    [report] = r.live()
    assert (report.worker, report.ids, report.done) == ("w1", frozenset({50, 71}), False)
    r.withdraw("w1")
    assert r.live() == []


def test_a_report_that_is_not_refreshed_expires(redis_conn):
    r = reports(redis_conn, ttl=0.3)
    r.publish("w1", [71], done=True)
    assert r.available_ids() == {71}
    time.sleep(0.4)
    assert r.live() == [] and r.available_ids() is None


def test_no_answer_until_some_live_worker_has_finished_its_self_test(redis_conn):
    r = reports(redis_conn)
    assert r.available_ids() is None
    r.publish("w1", [71], done=False)
    assert r.available_ids() is None  # still testing: the caller keeps its own guess
    r.publish("w2", [50], done=True)
    assert r.available_ids() == {50, 71}  # the union, partial reports included


def test_reports_of_other_queues_are_not_mixed_in(redis_conn):
    reports(redis_conn).publish("w1", [71], done=True)
    assert LanguageReports(redis_conn, "other-queue").available_ids() is None


def test_an_unreachable_redis_means_no_answer_not_an_error():
    unreachable = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    r = LanguageReports(unreachable, "q", cache_seconds=0)
    calls: list[int] = []
    reads = r.live
    r.live = lambda: calls.append(1) or reads()  # type: ignore[method-assign]
    assert r.available_ids() is None and calls == [1]
    assert r.available_ids() is None and calls == [1]  # backs off: Redis is not asked again


def test_readers_trust_what_they_read_for_a_moment(redis_conn):
    r = reports(redis_conn, cache_seconds=60)
    r.publish("w1", [71], done=True)
    first = r.available_ids()
    r.publish("w1", [71, 50], done=True)
    assert r.available_ids() is first == {71}


def _catalog() -> LanguageCatalog:
    return LanguageCatalog([
        Language(id=71, name="Python", source_file="a.py", run_cmd="python3 a.py", available=True),
        Language(id=50, name="C", source_file="a.c", run_cmd="./a.out", available=True),
        Language(id=1, name="Old", source_file="a", run_cmd="x", is_archived=True),
    ])


def test_a_catalog_following_the_reports_offers_exactly_what_workers_run(redis_conn):
    r = reports(redis_conn)
    catalog = _catalog()
    catalog.follow(r.available_ids)
    assert [lang.available for lang in (catalog.get(71), catalog.get(50))] == [True, True]
    r.publish("w1", [71], done=True)
    assert catalog.get(71).available and not catalog.get(50).available
    assert [lang.id for lang in catalog.active() if lang.available] == [71]
    r.withdraw("w1")
    assert catalog.get(50).available  # no live report: back to the load-time guess


def test_set_available_still_applies_when_no_worker_reports(redis_conn):
    catalog = _catalog()
    catalog.follow(reports(redis_conn).available_ids)
    catalog.set_available(50, False)
    assert catalog.get(50) == replace(_catalog().get(50), available=False)


def _fake_selftest(lines: list[str], exit_code: int = 0) -> tuple[str, ...]:
    script = "".join(f"print({line!r}, flush=True)\n" for line in lines)
    return (sys.executable, "-c", script + f"raise SystemExit({exit_code})")


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_reporter_publishes_what_passed_and_marks_the_report_done(redis_conn):
    r = reports(redis_conn)
    reporter = LanguageReporter(r, "w1", _fake_selftest(
        ['{"id": 71, "ok": true}', '{"id": 50, "ok": false}', "noise", '{"id": 43, "ok": true}']))
    reporter.start()
    try:
        _wait(lambda: r.live() and r.live()[0].done)
        assert r.live()[0].ids == {71, 43}
    finally:
        reporter.stop()
    assert r.live() == []  # withdrawn on stop


def test_a_failed_self_test_never_claims_to_be_done(redis_conn):
    r = reports(redis_conn)
    reporter = LanguageReporter(r, "w1", _fake_selftest(['{"id": 71, "ok": true}'], 2))
    reporter.start()
    try:
        _wait(lambda: reporter._child is not None and reporter._child.poll() is not None)
        time.sleep(0.1)
        assert not reporter.done and r.available_ids() is None
    finally:
        reporter.stop()


def test_the_reporter_keeps_the_report_alive(redis_conn):
    r = reports(redis_conn, ttl=0.6)
    reporter = LanguageReporter(r, "w1", _fake_selftest(['{"id": 71, "ok": true}']))
    reporter.start()
    try:
        _wait(lambda: r.available_ids() == {71})
        time.sleep(1.5)  # several TTLs: only the heartbeat keeps it
        assert r.available_ids() == {71}
    finally:
        reporter.stop()
