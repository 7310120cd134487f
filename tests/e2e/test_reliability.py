"""Nothing accepted is lost: worker crashes, Redis and PostgreSQL outages (issue 6).

Each test runs its own engine, and its own Redis or PostgreSQL server on a free port where it
stops one, so the shared services are never touched."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from ..hostcheck import live_processes, mounted, run_cgroups
from ..waiting import wait_for
from .conftest import ROOT, free_port, start_engine, stop_engine

PY = 71
# Own boxes and uids: the session's shared engine keeps its boxes while these tests run.
BOXES = "/var/lib/judge/test-reliability-boxes"
FIRST_UID = 62500
FAST_RECOVERY = {"LEASE_SECONDS": "2", "RECONCILE_INTERVAL": "0.5",
                 "RECONCILE_QUEUED_AFTER": "1", "MAX_QUEUE_SIZE": "10000",
                 "SANDBOX_BOXES_DIR": BOXES, "SANDBOX_FIRST_UID": str(FIRST_UID)}
PG_BIN = Path("/usr/lib/postgresql")


def poll(engine, token: str, timeout: float) -> dict:
    """The submission once final."""
    def final() -> dict | None:
        body = engine.get(f"/submissions/{token}", fields="status,stdout,message").json()
        return body if body["status"]["id"] > 2 else None
    return wait_for(final, f"{token} final", timeout)


def status_of(engine, token: str) -> int:
    return engine.get(f"/submissions/{token}").json()["status"]["id"]


def box_uid_processes() -> list[str]:
    return live_processes(FIRST_UID, 500)


def test_a_worker_killed_mid_run_leaves_nothing_and_the_submission_still_finishes(
        database_url, storage):
    engine, procs = start_engine(database_url, "redis://127.0.0.1:6379/10", FAST_RECOVERY,
                                 workers=1)
    try:
        token = engine.post({"source_code": "import time\ntime.sleep(2)\nprint('done')",
                             "language_id": PY}).json()["token"]
        wait_for(lambda: status_of(engine, token) == 2, "the submission started", 20)
        wait_for(lambda: any("python3" in p for p in box_uid_processes()),
                 "the sandboxed program running", 20)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait()
        # --die-with-parent and PDEATHSIG take the box down
        wait_for(lambda: box_uid_processes() == [], "nothing of the box left", 10)
        # a new worker on this host cleans what the dead one left and the submission is judged
        procs.append(subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT,
                                      env=engine.env))
        body = poll(engine, token, timeout=60)
        assert body["status"]["id"] == 3 and body["stdout"] == "done\n", body
    finally:
        stop_engine(procs)
    assert box_uid_processes() == []
    assert run_cgroups(FIRST_UID, 500) == []
    assert not mounted(BOXES)


@pytest.fixture
def private_redis() -> Iterator[tuple[str, callable, callable]]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="judge-redis-")
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", workdir]
    state = {"proc": None}

    def start() -> None:
        state["proc"] = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                              text=True).stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop() -> None:
        if state["proc"] and state["proc"].poll() is None:
            state["proc"].terminate()
            state["proc"].wait(10)

    start()
    yield f"redis://127.0.0.1:{port}/0", start, stop
    stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_submissions_accepted_while_redis_is_down_are_judged_when_it_returns(
        database_url, storage, private_redis):
    redis_url, start_redis, stop_redis = private_redis
    engine, procs = start_engine(database_url, redis_url, FAST_RECOVERY, workers=1)
    tokens, errors = [], []
    try:
        def submit(n: int) -> None:
            for i in range(n):
                resp = engine.post({"source_code": f"print({i})", "language_id": PY})
                (tokens if resp.status_code == 201 else errors).append(resp)

        submit(5)
        stop_redis()
        submit(5)  # stored in PostgreSQL, tokens returned; the queue is unreachable
        waited = engine.post({"source_code": "print(1)", "language_id": PY}, wait="true")
        assert waited.status_code == 201  # answered with the submission as it stands
        tokens.append(waited)
        start_redis()  # empty: every queue message sent before the outage is gone too
        submit(5)
        assert errors == []
        finals = [poll(engine, resp.json()["token"], timeout=60) for resp in tokens]
    finally:
        stop_engine(procs)
    assert len(finals) == 16
    assert [body["status"]["id"] for body in finals] == [3] * 16


def test_sigterm_stops_a_worker_whose_redis_stopped_answering(database_url, storage,
                                                              private_redis):
    """A Redis that accepts connections but never answers (a frozen server; a network that
    drops packets behaves the same): a stopped worker gives up on it instead of waiting for
    as long as RQ would let a dequeue block (415 s)."""
    redis_url, _, _ = private_redis
    server = redis.Redis.from_url(redis_url).info("server")["process_id"]
    engine, procs = start_engine(database_url, redis_url, FAST_RECOVERY, workers=1)
    try:
        assert engine.run({"source_code": "print(1)", "language_id": PY})["status"]["id"] == 3
        os.kill(server, signal.SIGSTOP)
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(60) == 0
    finally:
        os.kill(server, signal.SIGCONT)
        stop_engine(procs)


def _postgres_server(port: int, datadir: str):
    version = sorted(os.listdir(PG_BIN), key=lambda v: int(v.split(".")[0]))[-1]
    bin_dir = PG_BIN / version / "bin"
    owner = pwd.getpwnam("postgres")

    def as_postgres():
        os.setgid(owner.pw_gid)
        os.setuid(owner.pw_uid)

    def start() -> None:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", datadir, "-w", "-l",
                        f"{datadir}/log", "-o", f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1",
                        "start"], check=True, preexec_fn=as_postgres, capture_output=True)

    def stop() -> None:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", datadir, "-m", "fast", "-w", "stop"],
                       preexec_fn=as_postgres, capture_output=True)

    subprocess.run([str(bin_dir / "initdb"), "-D", datadir, "-A", "trust", "-U", "judge"],
                   check=True, preexec_fn=as_postgres, capture_output=True)
    return start, stop


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, callable, callable]]:
    port = free_port()
    datadir = tempfile.mkdtemp(prefix="judge-pg-")
    shutil.chown(datadir, "postgres", "postgres")
    start, stop = _postgres_server(port, datadir)
    start()
    yield f"postgresql://judge@127.0.0.1:{port}/postgres", start, stop
    stop()
    shutil.rmtree(datadir, ignore_errors=True)


def test_postgres_outage_gives_503_json_and_recovers_without_restart(private_postgres):
    database_url, start_pg, stop_pg = private_postgres
    subprocess.run([sys.executable, "-m", "judge.cli.command", "migrate"], check=True, cwd=ROOT,
                   env={**os.environ, "DATABASE_URL": database_url}, capture_output=True)
    engine, procs = start_engine(database_url, "redis://127.0.0.1:6379/10", FAST_RECOVERY,
                                 workers=1)
    try:
        before = engine.run({"source_code": "print('before')", "language_id": PY})
        assert before["stdout"] == "before\n"
        stop_pg()
        down = [engine.post({"source_code": "print(1)", "language_id": PY}),
                engine.get(f"/submissions/{before['token']}")]
        for resp in down:
            assert resp.status_code == 503, resp.text
            assert resp.json() == {"error": "the database is unavailable, try again later"}
        start_pg()
        def judged_after() -> dict | None:  # the pool replaces its dead connections by itself
            try:
                return engine.run({"source_code": "print('after')", "language_id": PY})
            except (AssertionError, requests.RequestException):
                return None
        after = wait_for(judged_after, "the engine recovered", 30)
        assert after["stdout"] == "after\n"
    finally:
        stop_engine(procs)


def test_sigterm_lets_a_worker_finish_its_submission_and_stop_taking_new_ones(database_url,
                                                                             storage):
    engine, procs = start_engine(database_url, "redis://127.0.0.1:6379/10",
                                 {**FAST_RECOVERY, "LEASE_SECONDS": "30"}, workers=1)
    try:
        running = engine.post({"source_code": "import time\ntime.sleep(1.5)\nprint('done')",
                               "language_id": PY}).json()["token"]
        wait_for(lambda: status_of(engine, running) == 2, "the submission started", 20)
        procs[1].send_signal(signal.SIGTERM)
        waiting = engine.post({"source_code": "print(2)", "language_id": PY}).json()["token"]
        assert procs[1].wait(30) == 0
        assert poll(engine, running, timeout=5)["stdout"] == "done\n"
        # the worker took nothing new after SIGTERM; a new one judges what waits
        assert engine.get(f"/submissions/{waiting}").json()["status"]["id"] == 1
        procs.append(subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT,
                                      env=engine.env))
        assert poll(engine, waiting, timeout=30)["status"]["id"] == 3
    finally:
        stop_engine(procs)


def test_a_flood_of_2000_single_and_batched_submissions_all_reach_one_final_status(database_url, storage):
    from concurrent.futures import ThreadPoolExecutor
    engine, procs = start_engine(database_url, "redis://127.0.0.1:6379/10", FAST_RECOVERY,
                                 workers=2)
    try:
        def item(i: int) -> dict:
            return {"source_code": f"echo {i}", "language_id": 46, "expected_output": str(i)}

        def post(i: int) -> list[tuple[int, str]]:
            """Even i: one single create; odd i: a batch of 20 (1000 + 50 x 20 = 2000)."""
            if i % 2 == 0 or i >= 100:
                resp = engine.http.post(f"{engine.url}/submissions", json=item(i), timeout=30)
                return [(resp.status_code, resp.json().get("token"))]
            resp = engine.http.post(f"{engine.url}/submissions/batch", timeout=30, json={
                "submissions": [item(10_000 + 20 * i + k) for k in range(20)]})
            return [(resp.status_code, entry.get("token")) for entry in resp.json()]

        with ThreadPoolExecutor(8) as pool:
            results = [pair for pairs in pool.map(post, range(1050)) for pair in pairs]
        assert len(results) == 2000
        assert [code for code, _ in results] == [201] * 2000
        tokens = [token for _, token in results]
        assert len(set(tokens)) == 2000
        wait_for(lambda: not (storage.count_pending() or _processing(storage)),
                 "the flood judged", 240)
        rows = storage.get_many(tokens)
        assert [row["status_id"] for row in rows] == [3] * 2000  # each Accepted, exactly once
        assert all(row["finished_at"] is not None for row in rows)
    finally:
        stop_engine(procs)


def _processing(storage) -> int:
    with storage.pool.connection() as conn:
        return conn.execute("SELECT count(*) AS n FROM submissions WHERE status_id = 2"
                            ).fetchone()["n"]


def test_per_client_rate_limit_answers_429_with_retry_after(database_url, storage):
    engine, procs = start_engine(database_url, "redis://127.0.0.1:6379/10",
                                 {**FAST_RECOVERY, "RATE_LIMIT_REQUESTS": "3",
                                  "RATE_LIMIT_WINDOW": "60"}, workers=0)
    try:
        body = {"source_code": "print(1)", "language_id": PY}
        codes = [engine.post(body).status_code for _ in range(3)]
        limited = engine.post(body)
        invented = [engine.http.post(f"{engine.url}/submissions", json=body,
                                     headers={"X-Auth-Token": f"invented-{i}"}).status_code
                    for i in range(5)]
        # through a proxy on loopback (trusted by default), another client's address
        forwarded = engine.http.post(f"{engine.url}/submissions", json=body,
                                     headers={"X-Forwarded-For": "203.0.113.5"})
        reads = engine.get("/statuses")
    finally:
        stop_engine(procs)
    assert codes == [201, 201, 201]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "rate limit of 3 requests per 60 s exceeded" in limited.json()["error"]
    assert invented == [429] * 5  # a token nobody configured is no identity: the same client
    assert forwarded.status_code == 201  # counted per client
    assert reads.status_code == 200  # only creating submissions is limited


def test_a_callback_left_pending_by_a_killed_worker_is_sent_again(database_url, storage):
    from .test_api_callbacks import Receiver
    receiver = Receiver()
    engine, procs = start_engine(database_url, "redis://127.0.0.1:6379/10",
                                 {**FAST_RECOVERY, "CALLBACKS_RESEND_AFTER": "1",
                                  "CALLBACKS_TIMEOUT": "20"}, workers=1)
    try:
        token = engine.post({"source_code": "print(1)", "language_id": PY,
                             "callback_url": receiver.url + "/hold"}).json()["token"]
        assert receiver.next(30).method == "PUT"  # being delivered; the receiver holds it
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait()
        assert storage.get_submission(token)["callback_status"] == "pending"
        receiver.release.set()  # from now on the receiver answers at once
        procs.append(subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT,
                                      env=engine.env))
        again = receiver.next(30)
        assert again.method == "PUT" and again.json()["token"] == token
        wait_for(lambda: (storage.get_submission(token)["callback_status"] or "").startswith(
            "delivered"), "the callback delivered", 30)
    finally:
        stop_engine(procs)
        receiver.close()
