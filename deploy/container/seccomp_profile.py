"""Writes deploy/container/worker-seccomp.json, the seccomp profile of the worker's container
(Docker, Podman, Kubernetes `Localhost`): `python3 deploy/container/seccomp_profile.py`.

Docker's default profile has no `pivot_root` at all (nor has containerd's, Kubernetes'
`RuntimeDefault`), and bubblewrap needs it, so the worker cannot run under those defaults; it
must not run unconfined either. This profile allows everything but the system calls that only
serve to attack the kernel or escape the container, the same deny-list the sandbox applies
to every program (judge/sandbox/seccomp.py), minus the namespace and mount calls that the
worker (the box tmpfs, slirp4netns's setns) and bubblewrap (unshare, mount, pivot_root,
chroot) make. The programs themselves still run under the sandbox's own, stricter filter,
which bubblewrap stacks on top. tests/test_deploy.py checks that the file matches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from judge.sandbox.seccomp import DENIED_SYSCALLS  # noqa: E402 - after the path is set

PROFILE = Path(__file__).with_name("worker-seccomp.json")
# What the worker and bubblewrap need of the sandbox's deny-list.
WORKER_NEEDS = frozenset({
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
})  # fmt: skip
ARCHITECTURES = ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                 "SCMP_ARCH_ARM")
EPERM = 1


def profile() -> dict:
    denied = sorted(name for name in DENIED_SYSCALLS if name not in WORKER_NEEDS)
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": list(ARCHITECTURES),
        "syscalls": [{"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM}],
    }


def text() -> str:
    return json.dumps(profile(), indent=2) + "\n"


if __name__ == "__main__":
    PROFILE.write_text(text())
    print(f"wrote {PROFILE.relative_to(ROOT)}")
