"""A live engine for end-to-end tests: gunicorn serving the API and two judging workers, as
real processes, on the test database, a test Redis database and their own sandbox boxes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from judge.storage import Storage

ROOT = Path(__file__).resolve().parents[2]
BOXES = "/var/lib/judge/test-e2e-boxes"
FIRST_UID = "62000"  # apart from the sandbox tests' 60000+ boxes, which run in the same session


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


def _wait_http(url: str, procs: list[subprocess.Popen], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args} exited with {p.returncode} during start-up")
        try:
            requests.get(f"{url}/statuses", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"the API did not answer on {url}")


def start_engine(database_url: str, redis_url: str, extra_env: dict[str, str] | None = None,
                 workers: int = 2) -> tuple[Engine, list[subprocess.Popen]]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SANDBOX_BOXES_DIR": BOXES, "SANDBOX_FIRST_UID": FIRST_UID, "PORT": str(port),
           **(extra_env or {})}
    api = subprocess.Popen([sys.executable, "-m", "gunicorn", "api.wsgi:application",
                            "--bind", f"127.0.0.1:{port}", "--workers", "2",
                            "--worker-class", "gthread", "--threads", "16",
                            "--log-level", "warning"], cwd=ROOT, env=env)
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
