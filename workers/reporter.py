"""The worker's language report: run the start-up self-test, then keep the report alive.

The self-test runs in a child process (`judge languages check --startup`) with a box of its
own, so the worker takes jobs while it runs: languages are published one by one as they pass,
and the report is marked done when the test is over. The child shares a result cache with the
other workers of the host and holds its lock while testing, so a host's workers test each
toolchain once, and a restart with unchanged toolchains costs a few milliseconds per language.
"""

from __future__ import annotations

import ctypes
import json
import logging
import signal
import subprocess
import sys
import threading

from judge.language_reports import LanguageReports

log = logging.getLogger(__name__)
SELFTEST_COMMAND = (sys.executable, "-m", "judge.cli.command", "languages", "check", "--startup")
STOP_GRACE = 5.0  # seconds the self-test gets to release its box when the worker stops
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class LanguageReporter:
    """A thread: start-up self-test in a child process, then a heartbeat for the report."""

    def __init__(self, reports: LanguageReports, worker_id: str,
                 command: tuple[str, ...] = SELFTEST_COMMAND):
        self.reports = reports
        self.worker_id = worker_id
        self.command = command
        self.ids: set[int] = set()
        self.done = False
        self._stop = threading.Event()
        self._child: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._main, name="language-report", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the self-test if it still runs, and withdraw the report."""
        self._stop.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGINT)  # KeyboardInterrupt: it releases its box
            try:
                child.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                child.kill()
        self._thread.join(STOP_GRACE + 1)
        try:
            self.reports.withdraw(self.worker_id)
        except Exception as e:  # noqa: BLE001 - Redis down: the report expires by itself
            log.warning("cannot withdraw the language report: %s", e)

    def _publish(self) -> None:
        try:
            self.reports.publish(self.worker_id, self.ids, self.done)
        except Exception as e:  # noqa: BLE001 - Redis down: try again at the next heartbeat
            log.warning("cannot publish the language report: %s", e)

    def _main(self) -> None:
        self._self_test()
        while not self._stop.wait(self.reports.ttl / 3):
            self._publish()

    def _self_test(self) -> None:
        try:
            self._child = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                           stdin=subprocess.DEVNULL, text=True,
                                           preexec_fn=_die_with_parent)
        except OSError as e:
            log.error("cannot start the language self-test: %s", e)
            return
        for line in self._child.stdout:
            try:
                outcome = json.loads(line)
            except ValueError:
                continue
            if outcome.get("ok"):
                self.ids.add(int(outcome["id"]))
            else:
                log.warning("language %s failed its self-test; not offered", outcome.get("id"))
            self._publish()
        self._child.stdout.close()
        returncode = self._child.wait()
        if self._stop.is_set():
            return
        if returncode != 0:
            log.error("the language self-test exited with status %s; this worker does not "
                      "report its languages", returncode)
            return
        self.done = True
        log.info("languages this worker runs: %s", sorted(self.ids))
        self._publish()
