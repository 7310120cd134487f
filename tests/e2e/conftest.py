"""A live engine for end-to-end tests: gunicorn serving the API and two judging workers, as
real processes, on the test database, a test Redis database and their own sandbox boxes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from psycopg import sql as psycopg_sql

from judge.cli.up import api_command
from judge.config import Config
from judge.store.submissions import Storage

ROOT = Path(__file__).resolve().parents[2]
# Overridable so that two test sessions can share a machine without sharing boxes or uids.
BOXES = os.environ.get("TEST_E2E_BOXES_DIR", "/var/lib/judge/test-e2e-boxes")
# apart from the sandbox tests' 61000+ boxes, which run in the same session
FIRST_UID = os.environ.get("TEST_E2E_FIRST_UID", "62000")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """Handle on the running engine: its URL and helpers to talk to it."""

    def __init__(self, url: str, env: dict[str, str]):
        self.url = url
        self.env = env
        self.http = requests.Session()

    def post(self, body: dict, **params) -> requests.Response:
        return self.http.post(f"{self.url}/submissions", json=body, params=params, timeout=90)

    def run(self, body: dict, **params) -> dict:
        """POST with wait=true; the finished submission."""
        resp = self.post(body, wait="true", **params)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(f"{self.url}{path}", params=params, timeout=30)


# Seconds an engine's API gets to answer after it starts; an emulated CPU (the VM lab) needs more.
START_TIMEOUT = float(os.environ.get("TEST_E2E_START_TIMEOUT", "30"))


def _wait_http(url: str, procs: list[subprocess.Popen], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args} exited with {p.returncode} during start-up")
        try:
            requests.get(f"{url}/statuses", timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):  # still booting, or a busy host
            time.sleep(0.1)
    raise RuntimeError(f"the API did not answer on {url}")


def start_engine(database_url: str, redis_url: str, extra_env: dict[str, str] | None = None,
                 workers: int = 2, api_processes: int = 2) -> tuple[Engine, list[subprocess.Popen]]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SANDBOX_BOXES_DIR": BOXES, "SANDBOX_FIRST_UID": FIRST_UID, "PORT": str(port),
           "ALLOW_ENABLE_NETWORK": "true",  # the network tests need it; off by default
           "ACCESS_LOG": "false",
           **(extra_env or {})}
    api = subprocess.Popen(api_command(Config(), bind=f"127.0.0.1:{port}", processes=api_processes,
                                       log_level="warning"), cwd=ROOT, env=env)
    procs = [api] + [subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env)
                     for _ in range(workers)]
    engine = Engine(f"http://127.0.0.1:{port}", env)
    try:
        _wait_http(engine.url, procs)
    except Exception:
        stop_engine(procs)
        raise
    return engine, procs


def stop_engine(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


E2E_REDIS_URL = os.environ.get("TEST_E2E_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture(scope="session")
def engine(database_url: str, storage: Storage) -> Iterator[Engine]:
    """Its own Redis database: other tests flush theirs while these workers are registered."""
    flush = redis.Redis.from_url(E2E_REDIS_URL)
    flush.flushdb()
    engine, procs = start_engine(database_url, E2E_REDIS_URL)
    yield engine
    stop_engine(procs)
    flush.flushdb()
    flush.close()


# -- configured engines for the API tests (tests/e2e/test_api_*.py) ---------------------------

def schema_url(database_url: str, schema: str) -> str:
    """The same database, with `schema` first on the search path."""
    joiner = "&" if "?" in database_url else "?"
    return f"{database_url}{joiner}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def isolated_database(database_url: str, schema: str) -> Iterator[str]:
    """A database URL whose tables live in their own, freshly migrated schema, dropped
    afterwards: an engine on it sees only its own submissions (exact counts, no leftovers
    for the other engines' reconcilers)."""
    drop = psycopg_sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
        psycopg_sql.Identifier(schema))
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(psycopg_sql.SQL("CREATE SCHEMA {}").format(psycopg_sql.Identifier(schema)))
    url = schema_url(database_url, schema)
    with Storage(url, max_size=1) as storage:
        storage.migrate()
    try:
        yield url
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(drop)


@contextlib.contextmanager
def running_engine(database_url: str, redis_db: int, env: dict[str, str], workers: int,
                   schema: str | None = None, api_processes: int = 2) -> Iterator[Engine]:
    """An engine with `env` on its own Redis database (and, with `schema`, its own tables),
    stopped and cleaned up afterwards."""
    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    flush = redis.Redis.from_url(redis_url)
    flush.flushdb()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(isolated_database(database_url, schema)) if schema \
            else database_url
        engine, procs = start_engine(url, redis_url, env, workers=workers,
                                     api_processes=api_processes)
        engine.database_url = url
        stack.callback(flush.close)
        stack.callback(flush.flushdb)
        stack.callback(stop_engine, procs)
        yield engine


AUTHN = {"X-Auth-Token": "alpha"}
AUTHZ = {**AUTHN, "X-Auth-User": "root"}
SIGNING_SECRET = "whsec-test-secret"


@pytest.fixture(scope="session")
def secured_engine(database_url: str, storage: Storage) -> Iterator[Engine]:
    """Authentication, authorization, an IP allow and deny list, CORS origins, DELETE on,
    batches off, signed callbacks; its own tables and one worker."""
    env = {"AUTHN_TOKEN": "alpha beta", "AUTHZ_TOKEN": "root", "ENABLE_SUBMISSION_DELETE": "true",
           "ENABLE_BATCHED_SUBMISSIONS": "false",
           "ALLOW_IP": "127.0.0.1 192.0.2.10 198.51.100.7",
           "DISALLOW_IP": "203.0.113.9 198.51.100.7",
           "ALLOW_ORIGIN": "https://app.example https://admin.example",
           "CALLBACK_SIGNING_SECRET": SIGNING_SECRET}
    with running_engine(database_url, 5, env, workers=1, schema="api_secured") as engine:
        engine.http.headers.update(AUTHN)
        yield engine


@pytest.fixture(scope="session")
def closed_engine(database_url: str, storage: Storage) -> Iterator[Engine]:
    """Maintenance mode, the docs as home page, a deny list without an allow list, a denied
    CORS origin, authorization on, `fields=*` as in Judge0 master; its own tables and no
    workers."""
    env = {"MAINTENANCE_MODE": "true", "USE_DOCS_AS_HOMEPAGE": "true", "AUTHZ_TOKEN": "root",
           "DISALLOW_IP": "203.0.113.9", "DISALLOW_ORIGIN": "https://evil.example",
           "MASTER_STAR_FIELDS": "true"}
    with running_engine(database_url, 6, env, workers=0, schema="api_closed") as engine:
        yield engine


@pytest.fixture(scope="session")
def full_engine(database_url: str, storage: Storage) -> Iterator[Engine]:
    """MAX_QUEUE_SIZE=3 and no workers, so that what is accepted stays queued; its own tables
    (the queue count is exact); authorization on, DELETE off."""
    env = {"MAX_QUEUE_SIZE": "3", "AUTHZ_TOKEN": "root"}
    with running_engine(database_url, 7, env, workers=0, schema="api_full") as engine:
        yield engine


@pytest.fixture(scope="session")
def judge0_1_13_engine(database_url: str, storage: Storage) -> Iterator[Engine]:
    """JUDGE0_VERSION=1.13.1: Judge0 CE 1.13.1's contract (no ids 90-113); its own tables
    and one worker."""
    with running_engine(database_url, 11, {"JUDGE0_VERSION": "1.13.1"}, workers=1,
                        schema="api_judge0_1_13") as engine:
        yield engine


def wait_done(engine: Engine, token: str, timeout: float = 60) -> dict:
    """Poll until the submission is final; its `status` (fields=status, so output that is
    not ASCII does not matter)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = engine.get(f"/submissions/{token}", fields="status").json()["status"]
        if status["id"] > 2:
            return status
        time.sleep(0.05)
    raise AssertionError(f"{token} not judged within {timeout}s")
