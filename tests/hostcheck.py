"""What the sandbox may leave on the host, for tests that assert it left nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from judge.sandbox.cgroups import CGROUP_MOUNT, V1_CONTROLLERS


def live_processes(first_uid: int, count: int, exclude: set[int] = frozenset()) -> list[str]:
    """Live processes of sandbox uids first_uid..first_uid+count-1 (zombies waiting for init
    to reap them hold nothing and are left out), except the pids in `exclude` (a sandbox's
    warm session, which lives between runs)."""
    out = subprocess.run(["ps", "-eo", "uid=,pid=,stat=,comm="], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines()
            if first_uid <= int(line.split()[0]) < first_uid + count
            and int(line.split()[1]) not in exclude and not line.split()[2].startswith("Z")]


def run_cgroups(first_uid: int, count: int) -> list[str]:
    """Run cgroups (named box<uid>-...) of those uids: in any v1 controller's `judge` folder,
    and anywhere in the v2 hierarchy (each worker's subtree is its own delegated cgroup)."""
    def ours(path: Path) -> bool:
        return (path.name.startswith("box") and path.name[3:].split("-")[0].isdigit()
                and first_uid <= int(path.name[3:].split("-")[0]) < first_uid + count)
    found = []
    for controller in V1_CONTROLLERS:
        parent = CGROUP_MOUNT / controller / "judge"
        if parent.exists():
            found += [p.name for p in parent.iterdir() if p.is_dir() and ours(p)]
    if (CGROUP_MOUNT / "cgroup.controllers").exists():  # a v2 hierarchy (unified or beside v1)
        for parent, directories, _ in os.walk(CGROUP_MOUNT):
            found += [name for name in directories if ours(Path(parent, name))]
    return found


def mounted(path: str) -> bool:
    return path in Path("/proc/self/mountinfo").read_text()
