"""The supervisor itself stays healthy: no file descriptors, cgroups or zombies leak across
runs, a run that cannot start is a result rather than an exception, and sandboxes on other
boxes dirs do not disturb a running one. (Each was a bug found by a hostile review.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import judge
from judge.sandbox import Limits, Outcome, RunSpec, SandboxSettings, open_sandbox

from ..hostcheck import run_cgroups
from .conftest import FIRST_UID, live_box_processes


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_many_runs_leak_no_file_descriptors_cgroups_or_processes(box):
    box.run("/bin/true")
    before = open_fds()
    for i in range(20):
        r = box.sh(f"echo {i}; echo err >&2; (sleep 100 &)", stdin=b"in")
        assert (r.outcome, r.stdout) == (Outcome.OK, f"{i}\n".encode())
    box.run("/usr/bin/yes", output_bytes=1000)  # killed for output
    box.run("/bin/sleep", "5", wall_time=0.2)  # killed for time
    assert open_fds() == before
    assert run_cgroups(FIRST_UID, 1000) == [] and live_box_processes() == []


def test_a_run_that_cannot_start_is_an_internal_error_and_leaks_no_file_descriptors(box):
    box.run("/bin/true")
    before = open_fds()
    for _ in range(3):
        r = box.run("/bin/cat", stdin=Path("/nonexistent/stdin"))
        assert r.outcome is Outcome.INTERNAL_ERROR
    assert open_fds() == before


def test_runs_work_while_the_supervisor_holds_many_open_files(box):
    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(300)]
    try:
        r = box.run("/bin/true")
    finally:
        for fd in held:
            os.close(fd)
    assert r.outcome is Outcome.OK


def test_a_sandbox_on_another_boxes_dir_cannot_take_a_running_runs_uid(box, tmp_path):
    outcome: dict[str, object] = {}

    def run_one() -> None:
        outcome["result"] = box.sandbox.run(RunSpec(("/bin/sleep", "1"), Limits()))

    runner = threading.Thread(target=run_one)
    runner.start()
    time.sleep(0.3)
    twin = SandboxSettings(boxes_dir=tmp_path / "boxes", first_uid=FIRST_UID, max_boxes=1)
    try:
        other = open_sandbox(twin, box_id=box.sandbox.box.id)  # same uid: must be refused
    except Exception:  # noqa: BLE001 - SandboxUnavailable is the expected answer
        other = None
    runner.join()
    assert other is None
    assert outcome["result"].outcome is Outcome.OK, outcome["result"]


# A worker that is PID 1 of its container (no init reaps orphans): its runs must leave
# no zombies behind, or they would use up the box uid's process limit.
PID1_SUPERVISOR = """
import json, os, sys, time
from pathlib import Path
from judge.sandbox import Limits, RunSpec, SandboxSettings, open_sandbox
assert os.getpid() == 1
sandbox = open_sandbox(SandboxSettings(boxes_dir=Path(sys.argv[1]), first_uid=int(sys.argv[2])))
try:
    small = Limits(processes=10)
    quick = [sandbox.run(RunSpec(("/bin/true",), small)).outcome.value for _ in range(15)]
    time.sleep(0.2)
    sandbox.run(RunSpec(("/bin/true",), small))
    states = [Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
              for p in os.listdir("/proc") if p.isdigit() and p != "1"]
    print(json.dumps({"zombies": states.count("Z"), "quick": quick}))
finally:
    sandbox.close()
"""


def test_a_worker_that_is_pid_1_of_its_container_accumulates_no_zombies(tmp_path):
    script = tmp_path / "pid1_supervisor.py"
    script.write_text(PID1_SUPERVISOR)
    project = Path(judge.__file__).resolve().parents[1]
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, str(script),
         "/var/lib/judge/test-pid1-boxes", str(FIRST_UID + 500)],
        capture_output=True, text=True, timeout=60, cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["quick"] == ["ok"] * 15
    assert report["zombies"] == 0
