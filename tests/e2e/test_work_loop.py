"""The workers' own loop on the RQ queue (workers/loop.py): RQ's tools still see the workers,
their state and their counts, `rq suspend` pauses them, a judged job leaves no RQ bookkeeping
behind, and a second stop signal ends a worker at once without losing its submission.

One engine with one worker, its own tables, Redis database, boxes and uids."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis
import rq
from rq.suspension import resume, suspend
from rq.worker import WorkerStatus

from judge import events

from ..hostcheck import live_processes, run_cgroups
from ..waiting import wait_for
from .conftest import ROOT, Engine, isolated_database, start_engine, stop_engine

PY = 71
REDIS_URL = "redis://127.0.0.1:6379/3"
FIRST_UID = 63000
ENV = {"SANDBOX_BOXES_DIR": "/var/lib/judge/test-loop-boxes", "SANDBOX_FIRST_UID": str(FIRST_UID),
       "LEASE_SECONDS": "2", "RECONCILE_INTERVAL": "0.5", "RECONCILE_QUEUED_AFTER": "1"}


@pytest.fixture(scope="module")
def loop(database_url: str, storage) -> Iterator[tuple[Engine, list[subprocess.Popen], redis.Redis]]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    with isolated_database(database_url, "work_loop") as url:
        engine, procs = start_engine(url, REDIS_URL, ENV, workers=1)
        try:
            yield engine, procs, client
        finally:
            stop_engine(procs)
            client.flushdb()
            client.close()
    assert live_processes(FIRST_UID, 10) == [] and run_cgroups(FIRST_UID, 10) == []


def rq_workers(engine: Engine, client: redis.Redis) -> list[rq.Worker]:
    return rq.Worker.all(queue=rq.Queue(engine.get("/version").text, connection=client))


def status(engine: Engine, token: str) -> int:
    return engine.get(f"/submissions/{token}", fields="status").json()["status"]["id"]


def test_rq_sees_the_worker_and_a_judged_job_leaves_no_rq_keys(loop):
    engine, _, client = loop
    token = engine.run({"source_code": "print(42)", "language_id": PY})["token"]
    assert status(engine, token) == 3
    (worker,) = wait_for(lambda: [w for w in rq_workers(engine, client)
                                  if w.get_state() == WorkerStatus.IDLE], "an idle RQ worker")
    assert worker.successful_job_count >= 1 and worker.failed_job_count == 0
    assert worker.total_working_time > 0
    assert client.exists(rq.job.Job.key_for(token)) == 0
    leftovers = [key.decode() for key in client.scan_iter("rq:*")
                 if key.decode().startswith(("rq:job:", "rq:execution", "rq:wip:", "rq:finished:",
                                             "rq:failed:"))]
    assert leftovers == []
    assert engine.get("/workers").json()[0] == {
        "queue": "1.14.0", "size": 0, "available": 1, "idle": 1, "working": 0, "paused": 0,
        "failed": 0}


def test_rq_suspend_pauses_the_worker_until_rq_resume(loop):
    engine, _, client = loop
    suspend(client)
    try:
        wait_for(lambda: engine.get("/workers").json()[0]["paused"] == 1, "a paused worker")
        token = engine.post({"source_code": "print(1)", "language_id": PY}).json()["token"]
        time.sleep(1.5)
        assert status(engine, token) == 1  # In Queue: nobody takes it
        assert engine.get("/workers").json()[0]["size"] == 1
    finally:
        resume(client)
    wait_for(lambda: status(engine, token) == 3, "the submission judged after rq resume")
    wait_for(lambda: engine.get("/workers").json()[0]["idle"] == 1, "the worker idle again")


def test_jobs_flow_on_when_redis_forgets_the_workers_script(loop):
    """The API's queueing, the live events and the call closing a job (which takes the next)
    send scripts by their hash; after a SCRIPT FLUSH (a Redis restart does the same) each
    fails once and is sent again with its text: no event and no bookkeeping is lost."""
    engine, _, client = loop
    first = engine.post({"source_code": "import time\ntime.sleep(1)\nprint(1)",
                         "language_id": PY}).json()["token"]
    wait_for(lambda: status(engine, first) == 2, "the first submission Processing")
    client.script_flush()
    second = engine.post({"source_code": "print(2)", "language_id": PY}).json()["token"]
    wait_for(lambda: status(engine, second) == 3, "the second submission judged")
    assert status(engine, first) == 3
    (worker,) = rq_workers(engine, client)
    assert worker.failed_job_count == 0
    for token in (first, second):
        kinds = [fields[b"kind"] for _, fields in client.xrange(events.stream_key(token))]
        assert kinds == [b"status", b"status", b"final"], (token, kinds)
    wait_for(lambda: engine.get("/workers").json()[0]["idle"] == 1, "the worker idle again")


def test_the_worker_announces_what_it_takes_but_not_a_judged_submission_taken_again(loop):
    """TAKE adds the Processing event of the job it takes; a token pushed again after its
    verdict is taken, skipped by the claim, and gets no event after its final one."""
    engine, _, client = loop
    token = engine.run({"source_code": "print(3)", "language_id": PY})["token"]
    assert status(engine, token) == 3
    client.rpush(f"rq:queue:{engine.get('/version').text}", token)
    wait_for(lambda: engine.get("/workers").json()[0] | {"failed": 0} == {
        "queue": "1.14.0", "size": 0, "available": 1, "idle": 1, "working": 0, "paused": 0,
        "failed": 0}, "the pushed token taken")
    stream = [fields for _, fields in client.xrange(events.stream_key(token))]
    assert [fields[b"kind"] for fields in stream] == [b"status", b"status", b"final"]
    assert stream[1][b"data"] == b'{"status_id":2}'  # Processing, added by TAKE


def test_a_second_sigterm_stops_a_busy_worker_at_once_and_the_submission_is_judged_later(loop):
    engine, procs, client = loop
    token = engine.post({"source_code": "import time\ntime.sleep(4)\nprint('slept')",
                         "language_id": PY}).json()["token"]
    wait_for(lambda: status(engine, token) == 2, "the submission Processing")
    worker = procs[1]
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    worker.wait(10)
    assert status(engine, token) == 2  # it left in the middle of the run
    assert live_processes(FIRST_UID, 10) == [] and run_cgroups(FIRST_UID, 10) == []
    assert rq_workers(engine, client) == []  # unregistered on its way out
    procs[1] = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=engine.env)
    # the lease of the stopped worker expires; the reconciler queues the submission again
    wait_for(lambda: status(engine, token) == 3, "the submission judged by the new worker")
    body = engine.get(f"/submissions/{token}", fields="stdout").json()
    assert body["stdout"] == "slept\n"


def test_the_container_health_check_sees_this_hosts_worker(loop, monkeypatch):
    """deploy/container/healthcheck.py finds the worker by the name the worker registers."""
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.syspath_prepend(str(ROOT / "deploy" / "container"))
    import healthcheck
    assert healthcheck.worker()
    monkeypatch.setenv("HOSTNAME", "another-host")
    assert not healthcheck.worker()
