"""Start the engine (gunicorn API + workers) for a benchmark, the way `judge up` does."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis
import requests

from judge.cli.up import api_command, worker_command
from judge.config import Config
from judge.language_reports import LanguageReports

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_engine(workers: int, extra_env: dict[str, str] | None = None
                 ) -> tuple[str, list[subprocess.Popen]]:
    """API and `workers` workers on a free port; REDIS_URL defaults to Redis database 11."""
    port = free_port()
    env = {**os.environ, "MAX_QUEUE_SIZE": "100000", "ACCESS_LOG": "false", **(extra_env or {})}
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
    env.setdefault("SANDBOX_BOXES_DIR", "/var/lib/judge/bench-boxes")
    env.setdefault("SANDBOX_FIRST_UID", "64000")  # never the uids of a live engine on this host
    config = Config.load(env)
    procs = [subprocess.Popen(api_command(config, f"127.0.0.1:{port}", log_level="warning"),
                              cwd=ROOT, env=env)]
    procs += [subprocess.Popen(worker_command(), cwd=ROOT, env=env) for _ in range(workers)]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_answer(url)
        # A worker's start-up self-test runs every installed language in a child process: a
        # benchmark started meanwhile would share the CPUs with it.
        reports = LanguageReports(redis.Redis.from_url(config.redis_url), config.judge0_version)
        _wait_for(lambda: sum(r.done for r in reports.live()) >= workers,
                  "the workers' language self-tests")
    except BaseException:
        stop_engine(procs)
        raise
    return url, procs


def wait_for_answer(url: str) -> None:
    _wait_for(lambda: _answers(url), f"{url} to answer")


def _answers(url: str) -> bool:
    try:
        requests.get(f"{url}/statuses", timeout=1)
        return True
    except requests.RequestException:  # not listening yet, or its workers still booting
        return False


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"the engine did not start: waited {seconds:g} s for {what}")
        time.sleep(0.1)


def api_workers(procs: list[subprocess.Popen]) -> list[int]:
    """The pids of the gunicorn worker processes under the engine's API (procs[0])."""
    pid = procs[0].pid
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def stop_engine(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(60)
