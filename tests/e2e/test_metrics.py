"""GET /metrics against real services: the collector in-process on real Redis and PostgreSQL,
then a live engine (gunicorn + a worker whose JSON log this test reads) judging real
submissions, delivering a real callback, purging by retention, and scraped with
prometheus_client's own parser."""

from __future__ import annotations

import contextlib
import http.server
import json
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
import rq
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from judge import redis_scripts
from judge.contract.languages import LanguageCatalog
from judge.judging.verdict import internal_error
from judge.metrics import (
    CALLBACK_DELIVERIES,
    COMPILE_SECONDS,
    INTERNAL_ERRORS,
    JUDGING_SECONDS,
    RUN_SECONDS,
    EngineCollector,
    Recorder,
    Tally,
)
from judge.store.submissions import Storage

from ..waiting import wait_for
from .conftest import ROOT, Engine, free_port, isolated_database, running_engine

PY, C = 71, 50
DAY = 86400
OPS_REDIS_DB = 1  # the e2e engines of conftest use 5-8
TOKEN = "scrape-secret"
Samples = dict[tuple[str, frozenset], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and labels."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


# -- the collector, in-process, on real Redis and PostgreSQL ---------------------------------

@pytest.fixture
def collector_parts(database_url: str, redis_url: str) -> Iterator[tuple]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with isolated_database(database_url, "ops_collector") as url, Storage(url, max_size=2) as db:
        yield client, rq.Queue("ops-test", connection=client), db
    client.flushdb()
    client.close()


def scrape(client: redis.Redis, jobs: rq.Queue, db: Storage, cache_seconds: float = 0) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(client, jobs, db, LanguageCatalog.load(), cache_seconds))
    return samples(generate_latest(registry).decode())


def insert(db: Storage, language_id: int, status_id: int, count: int = 1) -> None:
    for _ in range(count):
        db.insert_submission({"token": str(uuid.uuid4()), "language_id": language_id,
                              "status_id": status_id})


@pytest.mark.parametrize("summed", [False, True], ids=["sent at once", "summed in a Tally"])
def test_recorded_durations_are_exposed_as_cumulative_histograms(collector_parts, summed):
    """A busy worker sums its observations in a Tally and sends them in one script call:
    the same histograms as observations sent one by one."""
    client, jobs, db = collector_parts
    recorder = Recorder(client)
    tally = Tally() if summed else None
    for wall_time in ("0.004", "0.02", "0.3", "100"):
        recorder.judged({"status_id": 3, "wall_time": wall_time}, 0.5, pipe=tally)
    recorder.judged({"status_id": 6, "wall_time": None}, 1.5, 0.25, pipe=tally)  # did not run
    if tally is not None:
        assert value(scrape(client, jobs, db), f"{RUN_SECONDS.name}_count") == 0  # not sent yet
        assert tally.due() is False  # counted within FLUSH_SECONDS
        client.script_flush()  # a Redis that forgot the script: it is sent again by its text
        with client.pipeline(transaction=False) as pipe:
            tally.flush(pipe)
            redis_scripts.raise_errors(redis_scripts.execute(client, pipe))
        assert not tally
    found = scrape(client, jobs, db)
    assert value(found, f"{COMPILE_SECONDS.name}_count") == 1
    assert value(found, f"{COMPILE_SECONDS.name}_bucket", le="0.25") == 1
    run = RUN_SECONDS.name
    assert value(found, f"{run}_count") == 4
    assert value(found, f"{run}_bucket", le="0.005") == 1
    assert value(found, f"{run}_bucket", le="0.025") == 2
    assert value(found, f"{run}_bucket", le="0.5") == 3
    assert value(found, f"{run}_bucket", le="60.0") == 3
    assert value(found, f"{run}_bucket", le="+Inf") == 4
    assert value(found, f"{run}_sum") == pytest.approx(100.324)
    assert value(found, f"{JUDGING_SECONDS.name}_count") == 5
    assert value(found, f"{JUDGING_SECONDS.name}_sum") == pytest.approx(3.5)


def test_internal_errors_and_callback_outcomes_are_counted(collector_parts):
    client, jobs, db = collector_parts
    recorder = Recorder(client)
    recorder.judged(internal_error("the sandbox failed"), 0.1)
    recorder.judged({"status_id": 3, "wall_time": "0.01"}, 0.1)
    for outcome in ("delivered", "delivered", "failed"):
        recorder.increment(CALLBACK_DELIVERIES, outcome)
    found = scrape(client, jobs, db)
    assert value(found, f"{INTERNAL_ERRORS.name}_total") == 1
    assert value(found, f"{CALLBACK_DELIVERIES.name}_total", outcome="delivered") == 2
    assert value(found, f"{CALLBACK_DELIVERIES.name}_total", outcome="failed") == 1


def test_queue_depth_and_submissions_by_language_and_status(collector_parts):
    client, jobs, db = collector_parts
    for _ in range(3):
        jobs.enqueue("workers.jobs.judge_submission", str(uuid.uuid4()))
    insert(db, PY, 3, count=2)
    insert(db, PY, 11)
    insert(db, C, 6)
    insert(db, C, 1)
    found = scrape(client, jobs, db)
    assert value(found, "judge_queue_jobs", queue="ops-test", state="queued") == 3
    assert value(found, "judge_queue_jobs", queue="ops-test", state="started") == 0
    assert value(found, "judge_workers", queue="ops-test", state="idle") == 0
    by_status = {(dict(labels)["language_id"], dict(labels)["status"]): count
                 for (name, labels), count in found.items() if name == "judge_submissions"}
    assert by_status == {(str(PY), "Accepted"): 2, (str(PY), "Runtime Error (NZEC)"): 1,
                         (str(C), "Compilation Error"): 1, (str(C), "In Queue"): 1}
    language = dict(next(labels for name, labels in found if name == "judge_submissions"))
    assert language["language"].startswith("C (")  # the name from languages.yml


def test_every_api_process_serves_the_same_cached_submission_counts(collector_parts):
    client, jobs, db = collector_parts
    insert(db, PY, 3)
    first = scrape(client, jobs, db, cache_seconds=600)
    insert(db, PY, 3)  # within the cache period, another process answers from the snapshot
    second = scrape(client, jobs, db, cache_seconds=600)
    key = "judge_submissions"
    counts = [{labels: n for (name, labels), n in found.items() if name == key}
              for found in (first, second)]
    assert counts[0] == counts[1] and sum(counts[0].values()) == 1
    assert sum(n for (name, _), n in scrape(client, jobs, db).items() if name == key) == 2


# -- a live engine ---------------------------------------------------------------------------

class Receiver:
    """A callback endpoint on 127.0.0.1 that records the tokens it is sent."""

    def __init__(self) -> None:
        self.tokens: queue.Queue[str] = queue.Queue()
        tokens = self.tokens

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                tokens.put(json.loads(body)["token"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/done"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def logged_worker(engine: Engine, log_path: Path) -> Iterator[subprocess.Popen]:
    """A judging worker whose stderr goes to `log_path`; stopped (SIGTERM) afterwards."""
    with log_path.open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=engine.env,
                                  stderr=log)
    try:
        yield worker
    finally:
        stop(worker)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def finished_submission(engine: Engine, age: float) -> str:
    """A C submission, Accepted `age` seconds ago, stored directly; its token."""
    token = str(uuid.uuid4())
    with Storage(engine.database_url, max_size=1) as db, db.pool.connection() as conn:
        conn.execute("INSERT INTO submissions (token, language_id, status_id, finished_at) "
                     "VALUES (%s, %s, 3, now() - make_interval(secs => %s))", [token, C, age])
    return token


def stored(engine: Engine, token: str) -> bool:
    with Storage(engine.database_url, max_size=1) as db:
        return db.get_submission(token) is not None


@pytest.fixture(scope="module")
def ops(database_url: str, storage: Storage, tmp_path_factory) -> Iterator[tuple]:
    """An engine on its own tables and Redis database, with JSON logs, a one-day retention
    and one worker of ours, whose stderr goes to a file."""
    receiver = Receiver()
    log_path = tmp_path_factory.mktemp("ops") / "worker.log"
    env = {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "AUTHN_TOKEN": TOKEN,
           "SUBMISSION_RETENTION": "1d", "RECONCILE_INTERVAL": "1"}
    try:
        with running_engine(database_url, OPS_REDIS_DB, env, workers=0,
                            schema="ops_metrics") as engine:
            # before the worker starts: its reconciler's first pass purges what is due
            engine.finished = {age: finished_submission(engine, age) for age in (2 * DAY, 3600)}
            with logged_worker(engine, log_path) as worker:
                engine.http.headers["X-Auth-Token"] = TOKEN
                # its language self-test (a child process sharing its stderr) is over
                wait_for(lambda: "languages this worker runs" in log_path.read_text(),
                         "the worker's language self-test", timeout=300)
                wait_for(lambda: engine.get("/workers").json()[0]["available"] == 1,
                         "the worker registered")
                yield engine, worker, receiver, log_path
    finally:
        receiver.close()


@pytest.fixture(scope="module")
def judged(ops) -> dict[str, list[str]]:
    """Five submissions judged by the live worker, one with a callback; their tokens."""
    engine, _, receiver, _ = ops
    tokens: dict[str, list[str]] = {"accepted": [], "nzec": [], "compile_error": []}

    def run(body: dict) -> dict:  # fields=...: gcc's messages need not be UTF-8
        return engine.run(body, fields="token,status")

    for stdin in ("a", "b"):
        done = run({"source_code": "print(input())", "language_id": PY, "stdin": stdin})
        assert done["status"]["id"] == 3, done
        tokens["accepted"].append(done["token"])
    done = run({"source_code": "print(1)", "language_id": PY, "callback_url": receiver.url})
    tokens["accepted"].append(done["token"])
    done = run({"source_code": "raise SystemExit(3)", "language_id": PY})
    assert done["status"]["id"] == 11, done
    tokens["nzec"].append(done["token"])
    done = run({"source_code": "int main( {", "language_id": C})
    assert done["status"]["id"] == 6, done
    tokens["compile_error"].append(done["token"])
    assert receiver.tokens.get(timeout=60) == tokens["accepted"][-1]
    return tokens


def scrape_engine(engine: Engine) -> Samples:
    resp = engine.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(resp.text)


def test_the_workers_purge_finished_submissions_older_than_the_retention(ops):
    engine = ops[0]
    old, recent = engine.finished[2 * DAY], engine.finished[3600]
    wait_for(lambda: not stored(engine, old), "the old submission purged")
    assert stored(engine, recent)


def test_metrics_count_what_the_live_engine_judged(ops, judged):
    engine = ops[0]
    callbacks = f"{CALLBACK_DELIVERIES.name}_total"
    delivered = (callbacks, frozenset({("outcome", "delivered")}))
    queue_name = engine.get("/version").text
    started = ("judge_queue_jobs", frozenset({("queue", queue_name), ("state", "started")}))

    def settled() -> Samples | None:
        """The callback is counted just after the receiver answered, and RQ retires a job
        just after the verdict that `wait=true` returns on."""
        found = scrape_engine(engine)
        return found if delivered in found and found[started] == 0 else None

    found = wait_for(settled, "the callback counted and the last job retired")
    assert value(found, callbacks, outcome="delivered") == 1
    submissions = {(dict(labels)["language_id"], dict(labels)["status_id"]): n
                   for (name, labels), n in found.items() if name == "judge_submissions"}
    assert submissions == {(str(PY), "3"): 3, (str(PY), "11"): 1, (str(C), "6"): 1,
                           (str(C), "3"): 1}  # and one stored directly, within the retention
    assert value(found, f"{JUDGING_SECONDS.name}_count") == 5
    assert value(found, f"{JUDGING_SECONDS.name}_bucket", le="+Inf") == 5
    assert value(found, f"{RUN_SECONDS.name}_count") == 4  # the compile error never ran
    assert value(found, f"{COMPILE_SECONDS.name}_count") == 1  # the C one; Python compiles nothing
    assert value(found, f"{RUN_SECONDS.name}_sum") > 0
    assert value(found, f"{INTERNAL_ERRORS.name}_total") == 0
    assert value(found, "judge_queue_jobs", queue=queue_name, state="queued") == 0
    assert sum(value(found, "judge_workers", queue=queue_name, state=state)
               for state in ("busy", "idle", "suspended")) == 1


def test_every_line_the_worker_logs_is_json_and_names_its_submission(ops, judged):
    engine, worker, _, log_path = ops
    stop(worker)  # its log is complete once it has exited
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message", "worker"} <= set(line)
                         for line in lines)
    assert {line["worker"] for line in lines} == {lines[0]["worker"]}
    every = [token for group in judged.values() for token in group]
    verdicts = {line["token"]: line for line in lines if line["message"].startswith("judged")}
    assert set(verdicts) == set(every)
    assert verdicts[judged["nzec"][0]]["status_id"] == 11
    for line in lines:  # a line that mentions a submission carries its token as a field
        for token in every:
            if token in line["message"]:
                assert line["token"] == token, line
    callback = judged["accepted"][-1]
    assert any(line.get("token") == callback and line["logger"] == "judge.callbacks"
               for line in lines)


def test_metrics_need_the_authentication_token_like_workers(ops):
    engine = ops[0]
    for path in ("/metrics", "/workers"):
        assert requests.get(f"{engine.url}{path}", timeout=30).status_code == 401
    # a Prometheus scrape config can send it as a parameter (`params:`) or a header
    resp = requests.get(f"{engine.url}/metrics", params={"X-Auth-Token": TOKEN}, timeout=30)
    assert resp.status_code == 200 and "# TYPE judge_queue_jobs gauge" in resp.text


def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(ops):
    engine = ops[0]
    resp = engine.http.get(f"{engine.url}/metrics", timeout=30,
                           headers={"Accept": "application/openmetrics-text"})
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert resp.text.endswith("# EOF\n")


def test_queue_depth_counts_what_waits_without_workers(ops, judged):
    engine, worker, _, _ = ops
    stop(worker)  # a stopped worker deregisters: nothing takes the next submissions
    for _ in range(2):
        assert engine.post({"source_code": "print(1)", "language_id": PY}).status_code == 201
    found = scrape_engine(engine)
    queue_name = engine.get("/version").text
    assert value(found, "judge_queue_jobs", queue=queue_name, state="queued") == 2
    assert sum(value(found, "judge_workers", queue=queue_name, state=state)
               for state in ("busy", "idle", "suspended")) == 0
