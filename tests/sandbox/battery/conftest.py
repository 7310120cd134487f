"""The attack battery's own sandbox: one real native sandbox for the whole session (its own
boxes dir and uid range, apart from ../conftest.py's), a fresh box for every test, the C test
programs of csrc/ compiled once, and a check at the very end that the sandbox left nothing
behind on the host (processes, cgroups, mounts).

These tests need root and bubblewrap; without them the directory is skipped. A host that has
both but cannot open the sandbox is an error, not a skip.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from judge.sandbox import Limits, NativeSandbox, RunResult, RunSpec, SandboxSettings, open_sandbox

HERE = Path(__file__).parent
CSRC = HERE / "csrc"
# Own boxes dir and uid range: other suites and engines (60000+ dev, 61000+ ../conftest.py,
# 62000+ e2e, 64000+ bench) may run at the same time, so the leftover checks look at this
# range only. (Two boxes dirs must never share uids: see test_robustness.)
BOXES = Path(os.environ.get("SANDBOX_BATTERY_BOXES_DIR", "/var/lib/judge/test-battery-boxes"))
FIRST_UID = int(os.environ.get("SANDBOX_BATTERY_FIRST_UID", "63000"))
SETTINGS = SandboxSettings(boxes_dir=BOXES, first_uid=FIRST_UID, max_boxes=16,
                           box_size_kb=64 * 1024, box_inodes=2048, tmp_kb=32 * 1024)
V1_CONTROLLERS = ("memory", "pids", "cpuacct", "freezer")
CGROUP_NAME = re.compile(r"box(\d+)-")

# A secret in the supervisor's environment: no sandboxed program may ever print it.
SECRET = "judge-test-secret-" + secrets.token_hex(8)
os.environ["JUDGE_TEST_SECRET"] = SECRET

# Small limits: a test that needs more says so.
DEFAULT_LIMITS = {"cpu_time": 2.0, "extra_cpu_time": 0.5, "wall_time": 5.0,
                  "memory_kb": 128_000, "processes": 60}


def why_skipped() -> str | None:
    if os.geteuid() != 0:
        return "the sandbox tests need root (per-box uids, cgroups and tmpfs mounts)"
    if shutil.which("bwrap") is None:
        return "the sandbox tests need bubblewrap: apt-get install bubblewrap"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = why_skipped()
    if reason is None:
        return
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


# -- what the sandbox may leave on the host: nothing ------------------------------------------
# Another session may run this suite at the same time (it then claims the next box, so the
# next uid): the checks look at the uids and box mounts of this session's sandboxes only.
OWN_UIDS: set[int] = set()
OWN_MOUNTS: set[str] = set()


def box_processes() -> list[str]:
    """Host processes of this session's box uids, zombies included, as 'uid pid stat comm'."""
    out = subprocess.run(["ps", "-eo", "uid=,pid=,stat=,comm="], capture_output=True,
                         text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if int(line.split()[0]) in OWN_UIDS]


PF_EXITING = 0x4


def _dead(pid: str) -> bool:
    """A zombie, or a killed process the kernel is still tearing down (PF_EXITING: e.g. a
    pid namespace's init waiting for the rest of its namespace to die)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # gone meanwhile
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] in "ZX" or int(fields[6]) & PF_EXITING != 0


def live_box_processes() -> list[str]:
    """Processes of the box uids that could still do something: none may exist once a run
    has returned. (Dead ones wait for their reaper; see test_robustness.)"""
    return [line for line in box_processes() if not _dead(line.split()[1])]


def settle() -> None:
    """Wait until the host's init has reaped the zombies earlier runs left (see
    test_robustness): they count against the box uid's RLIMIT_NPROC, which a test that
    needs the exact process limit must not share with them."""
    box_processes_reaped()


def box_processes_reaped(timeout: float = 10.0) -> list[str]:
    """All processes of the box uids, zombies included, after waiting up to `timeout` for
    the host's init to reap what was reparented to it."""
    deadline = time.monotonic() + timeout
    while (left := box_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def box_cgroups() -> list[str]:
    """Run cgroups of this session's box uids still present in any v1 controller (or v2)."""
    parents = [Path("/sys/fs/cgroup", c, "judge") for c in V1_CONTROLLERS]
    if not any(p.exists() for p in parents):  # a cgroup v2 host: <own cgroup>/boxes
        parents = list(Path("/sys/fs/cgroup").glob("**/boxes"))
    found = []
    for parent in parents:
        if parent.exists():
            for path in parent.iterdir():
                m = CGROUP_NAME.match(path.name)
                if path.is_dir() and m and int(m.group(1)) in OWN_UIDS:
                    found.append(str(path))
    return found


def boxes_mounts() -> list[str]:
    """Mounts still on this session's box directories."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4] in OWN_MOUNTS]


LEFT_ON_THE_HOST: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def nothing_left_on_the_host() -> Iterator[None]:
    """Set up before the sandbox, so it checks after the sandbox was closed."""
    yield
    if why_skipped():
        return
    for what, left in (("processes of the box uids", box_processes_reaped()),
                       ("run cgroups", box_cgroups()), ("box mounts", boxes_mounts())):
        if left:
            LEFT_ON_THE_HOST.append(f"{what} outlive the sandbox: {left}")
    assert not LEFT_ON_THE_HOST, LEFT_ON_THE_HOST


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A teardown error is reported on the session's last test, and would be swallowed if
    that test is an expected failure: fail the session here too."""
    if LEFT_ON_THE_HOST:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if LEFT_ON_THE_HOST:
        terminalreporter.section("the sandbox left things on the host", red=True)
        for line in LEFT_ON_THE_HOST:
            terminalreporter.write_line(line)


# -- the C test programs ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def programs() -> dict[str, bytes]:
    """csrc/NAME.c compiled on the host (same /usr as inside the sandbox): NAME -> binary."""
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = {}
        for source in sorted(CSRC.glob("*.c")):
            binary = Path(tmp, source.stem)
            jobs[source.stem] = (binary, subprocess.Popen(
                ["gcc", "-O1", "-Wall", "-o", str(binary), str(source), "-lpthread"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        for name, (binary, proc) in jobs.items():
            log = proc.communicate()[0].decode()
            assert proc.returncode == 0, f"cannot compile csrc/{name}.c:\n{log}"
            out[name] = binary.read_bytes()
    return out


# -- the sandbox ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def battery_sandbox() -> Iterator[NativeSandbox]:
    sandbox = open_sandbox(SETTINGS)
    OWN_UIDS.add(sandbox.box.uid)
    OWN_MOUNTS.add(str(sandbox.box.path.resolve()))
    try:
        yield sandbox
    finally:
        sandbox.close()


@dataclass
class Sandboxed:
    """The session's sandbox with a freshly reset box, and shorthands to run things in it."""

    sandbox: NativeSandbox
    programs: dict[str, bytes]
    installed: set[str] = field(default_factory=set)

    @property
    def box(self):
        return self.sandbox.box

    @property
    def path(self) -> Path:
        return self.sandbox.box.path

    def install(self, *names: str) -> None:
        """Copy compiled test programs into the box (as ./NAME)."""
        for name in names:
            self.box.write(name, self.programs[name], mode=0o755)

    def run(self, *argv: str, stdin: bytes | Path | None = None,
            env: dict[str, str] | None = None, stderr_to_stdout: bool = False,
            **limits) -> RunResult:
        return self.sandbox.run(RunSpec(argv, Limits(**{**DEFAULT_LIMITS, **limits}),
                                        stdin=stdin, env=tuple((env or {}).items()),
                                        stderr_to_stdout=stderr_to_stdout))

    def sh(self, script: str, **kwargs) -> RunResult:
        return self.run("/bin/bash", "-c", script, **kwargs)

    def py(self, code: str, **kwargs) -> RunResult:
        return self.run("/usr/bin/python3", "-c", code, **kwargs)

    def c(self, name: str, *args: str, **kwargs) -> RunResult:
        """Install test program NAME (once per test) and run it."""
        if name not in self.installed:
            self.install(name)
            self.installed.add(name)
        return self.run(f"./{name}", *args, **kwargs)


@pytest.fixture
def box(battery_sandbox: NativeSandbox, programs: dict[str, bytes]) -> Sandboxed:
    battery_sandbox.box.reset()
    return Sandboxed(battery_sandbox, programs)


class PidsPeak:
    """Samples the pids cgroups of the box's runs while a run is going on: the most tasks
    (processes and threads) a run had at once, and any sample above the cgroup's pids.max.
    Tasks are counted from the `tasks` file: pids.current may exceed pids.max for an
    instant, while the kernel charges a fork before refusing it."""

    def __init__(self, uid: int):
        self.pattern = f"box{uid}-*"
        self.peak = 0
        self.over: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        parent = Path("/sys/fs/cgroup/pids/judge")
        while not self._stop.is_set():
            for group in parent.glob(self.pattern):
                try:
                    tasks = len((group / "tasks").read_text().split())
                    limit = int((group / "pids.max").read_text())
                except (OSError, ValueError):
                    continue  # the run's cgroup went away meanwhile
                if tasks > limit:
                    self.over.append((tasks, limit))
                self.peak = max(self.peak, tasks)
            time.sleep(0.002)

    def __enter__(self) -> PidsPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
