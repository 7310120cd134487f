"""Two sandboxes of one process running at once, in threads (an interactive run's program and
interactor): each keeps its own streams, results and processes, and neither reaps the other's
children nor is kept by them from reaping its own (NativeSandbox._reap_strays)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from judge.sandbox import Limits, NativeSandbox, Outcome, RunSpec

from ..hostcheck import run_cgroups
from .conftest import FIRST_UID, another_sandbox, live_box_processes

ROUNDS = 12


def zombie_children(uid: int) -> list[int]:
    """This process's children that ran as `uid` and wait to be reaped."""
    found = []
    for task in os.listdir("/proc/self/task"):
        try:
            pids = Path(f"/proc/self/task/{task}/children").read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if fields["State"].startswith("Z") and int(fields["Uid"].split()[0]) == uid:
                found.append(int(pid))
    return found


@pytest.fixture(scope="module")
def cold_pair() -> Iterator[tuple[NativeSandbox, NativeSandbox]]:
    """Two sandboxes starting one bubblewrap per run: each run leaves a stray to reap."""
    with another_sandbox(zygotes=False) as first, another_sandbox(zygotes=False) as second:
        yield first, second


@pytest.fixture(scope="module")
def warm_partner(session_sandbox: NativeSandbox) -> Iterator[NativeSandbox]:
    with another_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def foreign_zombie() -> Iterator[subprocess.Popen]:
    """A child of ours that is not a sandbox's, exited and not yet waited for: the first
    zombie waitid(P_ALL) offers."""
    child = subprocess.Popen(["/bin/true"])
    while os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        time.sleep(0.01)
    yield child
    child.wait()


def echo_rounds(sandbox: NativeSandbox) -> list[tuple[Outcome, bytes, bytes]]:
    """Runs that echo their stdin and their box uid, so that crossed streams would show."""
    results = []
    for n in range(ROUNDS):
        r = sandbox.run(RunSpec(("/bin/sh", "-c", "cat; id -u >&2"), Limits(wall_time=20),
                                stdin=f"{sandbox.box.id}:{n}\n".encode()))
        results.append((r.outcome, r.stdout, r.stderr))
    return results


def expected_rounds(sandbox: NativeSandbox) -> list[tuple[Outcome, bytes, bytes]]:
    return [(Outcome.OK, f"{sandbox.box.id}:{n}\n".encode(), f"{sandbox.box.uid}\n".encode())
            for n in range(ROUNDS)]


def run_both(first: NativeSandbox, second: NativeSandbox) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(echo_rounds, (first, second)))
    assert results == [expected_rounds(first), expected_rounds(second)]


def assert_nothing_left(*sandboxes: NativeSandbox) -> None:
    time.sleep(0.1)  # the last run's stray may exit after its run's scan: the next one reaps it
    for sandbox in sandboxes:
        sandbox.run(RunSpec(("/bin/true",)))
        assert len(zombie_children(sandbox.box.uid)) <= 1  # at most this run's own stray
    assert live_box_processes() == []
    assert run_cgroups(FIRST_UID, 1000) == []


def test_warm_sandboxes_in_two_threads_keep_to_themselves(box, warm_partner):
    run_both(box.sandbox, warm_partner)
    assert_nothing_left(box.sandbox, warm_partner)


def test_cold_sandboxes_in_two_threads_reap_their_own_strays(cold_pair):
    run_both(*cold_pair)
    assert_nothing_left(*cold_pair)


def test_a_zombie_of_someone_else_does_not_stop_the_reaping(cold_pair, foreign_zombie):
    sandbox = cold_pair[0]
    for _ in range(5):
        assert sandbox.run(RunSpec(("/bin/true",))).outcome is Outcome.OK
        assert len(zombie_children(sandbox.box.uid)) <= 1  # without the fix: one more a run
    # and the other child is left for its owner to wait for
    assert os.waitid(os.P_PID, foreign_zombie.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
