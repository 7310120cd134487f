"""`judge up`: the API (gunicorn) and one judging worker per CPU, in the foreground.

The processes are started by command line (`gunicorn api.asgi:application -k
api.server.Worker`, `python -m workers`), so this module depends on neither package. A child that dies is restarted after a
short back-off; SIGINT/SIGTERM are passed on and the launcher waits for a clean stop (workers
finish the submission they are judging). On a systemd host each worker runs in a transient
scope of its own with Delegate=yes, the cgroup subtree its sandbox manages (a login shell's
cgroup is never taken over: judge/sandbox/cgroups.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from judge.config import Config

log = logging.getLogger(__name__)
STOP_GRACE = 30.0  # seconds children get to stop before they are killed
RESTART_DELAY = 1.0


def api_command(config: Config, bind: str | None = None, processes: int | None = None,
                log_level: str = "info") -> list[str]:
    """gunicorn serving the ASGI app with our uvicorn worker class (api/server.py): each
    process holds thousands of waiting clients on one event loop, none of them a thread."""
    return [sys.executable, "-m", "gunicorn", "api.asgi:application",
            "--bind", bind or f"0.0.0.0:{config.port}",
            "--workers", str(processes or max(config.rails_server_processes, 1)),
            "--worker-class", "api.server.Worker",
            # a worker whose event loop stops turning for this long is replaced
            "--graceful-timeout", str(int(STOP_GRACE)), "--timeout", "60",
            # unused, and shared by every instance on a host (~/.gunicorn/gunicorn.ctl): one
            # stopping would remove another's
            "--no-control-socket", "--log-level", log_level]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "workers"]


def delegated(command: list[str], name: str) -> list[str]:
    """`command` in a transient systemd scope with Delegate=yes when systemd manages this
    host's cgroups and we are root (its system manager takes the request); as it is
    elsewhere (no systemd, or a container, where the worker's cgroup is its own)."""
    if (os.geteuid() != 0 or not os.path.isdir("/run/systemd/system")
            or shutil.which("systemd-run") is None):
        return command
    return ["systemd-run", "--scope", "--quiet", "--collect", "--property=Delegate=yes",
            f"--description=judge {name}", "--", *command]  # a fresh unit name each start


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = field(default=0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv)
        self.started = time.monotonic()
        log.info("started %s (pid %d)", self.name, self.process.pid)


def run(config: Config, workers: int | None = None, bind: str | None = None) -> int:
    """Start everything and supervise until SIGINT/SIGTERM; returns the exit status."""
    count = workers if workers is not None else (os.cpu_count() or 1)
    children = [Child("api", api_command(config, bind))]
    children += [Child(f"worker-{i}", delegated(worker_command(), f"worker-{i}"))
                 for i in range(count)]
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.start()
    print(f"Judge0-compatible API on http://{bind or f'0.0.0.0:{config.port}'} with {count} "
          "worker(s). Ctrl+C stops.", flush=True)
    while not stopping:
        time.sleep(0.2)
        for child in children:
            code = child.process.poll()
            if code is None or stopping:
                continue
            if code == 2 and child.name.startswith("worker"):
                log.error("%s refuses to start (see its message above); not restarting", child.name)
                stopping = True
                break
            child.failures = child.failures + 1 if time.monotonic() - child.started < 10 else 1
            delay = min(RESTART_DELAY * 2 ** (child.failures - 1), 30)
            log.warning("%s exited with %s; restarting in %.0f s", child.name, code, delay)
            time.sleep(delay)
            child.start()
    return _stop_all(children)


def _stop_all(children: list[Child]) -> int:
    for child in children:
        if child.process and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
    return 0
