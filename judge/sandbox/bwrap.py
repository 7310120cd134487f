"""The bubblewrap command line of one run: namespaces, mounts, environment, the release gate.

Inside the sandbox the program sees a read-only /usr (and the merged-/usr symlinks), a few
read-only /etc paths toolchains need, its own /proc with the kernel's host details masked, a
read-only /dev holding only the device nodes programs use, private tmpfs /tmp and /dev/shm, and
the box at /box (its working directory). Everything else of the host is absent. bwrap itself
runs as the box's unprivileged uid, so the user namespace maps the sandbox uid to that uid on
the host (never to root).

The only places a program can write are SESSION_SCRATCH: a warm session (zygote.py) empties
RUN_SCRATCH before every run and all of SESSION_SCRATCH between submissions, so nothing of one
submission reaches the next (tests/sandbox/test_isolation.py enumerates the writable mounts
from inside a box and fails on any other).
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
from collections.abc import Iterable

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
BASE_ENV = (("PATH", SANDBOX_PATH), ("HOME", "/tmp"), ("LANG", "C.UTF-8"), ("LC_ALL", "C.UTF-8"),
            ("PWD", "/box"))

# Read-only host paths under /etc that every run gets: the dynamic linker's, the
# alternatives symlinks Debian's toolchains go through, certificates, time zone, and the JVM's
# (shared by every JVM language). What one toolchain alone needs is that language's `mounts:`
# in languages.yml (RunSpec.mounts). Globs; missing ones are skipped.
DEFAULT_ETC_PATHS = (
    "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/ssl", "/etc/ca-certificates", "/etc/java-*",
    "/etc/nsswitch.conf", "/etc/localtime", "/etc/mime.types",
)  # fmt: skip

# Where a program can write: the box (kept across the runs of one submission) and the per-run
# scratch directories. Every other mount is read-only or a device node.
BOX_DIR = "/box"
RUN_SCRATCH = ("/tmp", "/dev/shm")
SESSION_SCRATCH = (BOX_DIR, *RUN_SCRATCH)

# /dev is a small read-only tmpfs holding these host device nodes (those the host has) and
# links; bwrap's own --dev would give a writable /dev, shared by a session's runs.
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"))
DEV_BYTES = 64 * 1024
# Host details under /proc masked as Docker masks them by default, plus the kernel's command
# line: files behind an unreadable node, directories behind an empty read-only tmpfs.
PROC_MASKED = ("/proc/cmdline", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
               "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
               "/proc/sysrq-trigger", "/proc/acpi", "/proc/asound", "/proc/scsi")

# File descriptors the supervisor hands to bwrap, at fixed numbers (dash only knows 0-9).
READY_FD, GO_FD, SECCOMP_FD, PASSWD_FD, GROUP_FD = 3, 4, 5, 6, 7
CHILD_FDS = (READY_FD, GO_FD, SECCOMP_FD, PASSWD_FD, GROUP_FD)
# A zygote sandbox (zygote.py) gets its control socket instead of the gate's two pipes, and
# its binary as a memfd copied into the sandbox (no host path of it shows in mountinfo).
CONTROL_FD, ZYGOTE_BINARY_FD = 3, 8
ZYGOTE_FDS = (CONTROL_FD, SECCOMP_FD, PASSWD_FD, GROUP_FD, ZYGOTE_BINARY_FD)
ZYGOTE_PATH = "/run/judge-zygote"  # where the zygote binary appears inside the sandbox
# Only for runs with networking: bwrap reports the sandbox's pid on INFO_FD (the supervisor
# attaches the network to that pid's namespace), and /etc/resolv.conf and /etc/hosts come
# from memfds.
INFO_FD, RESOLV_FD, HOSTS_FD = 8, 9, 10
NETWORK_FDS = (INFO_FD, RESOLV_FD, HOSTS_FD)

# The program is started through this gate: it tells the supervisor it is ready (after all of
# bwrap's set-up), waits for the go byte, then becomes the program. The supervisor reads the
# cgroup's CPU counter at that moment so the set-up is not billed to the submission.
GATE = f'echo >&{READY_FD}; read _ <&{GO_FD}; exec {READY_FD}>&- {GO_FD}<&- "$@"'


def gated(program: Iterable[str]) -> list[str]:
    """The command that runs `program` through the gate."""
    return ["/bin/sh", "-c", GATE, "judge-gate", *program]


def zygote() -> tuple[list[str], list[str]]:
    """(extra options, command) of a sandbox whose PID 1 is the zygote binary handed over on
    ZYGOTE_BINARY_FD. Its arguments name what it empties: the box between submissions, the
    other scratch directories before every run too."""
    return (["--as-pid-1", "--perms", "0555", "--ro-bind-data", str(ZYGOTE_BINARY_FD),
             ZYGOTE_PATH], [ZYGOTE_PATH, *SESSION_SCRATCH])


def bwrap_binary() -> str | None:
    return shutil.which("bwrap")


def _root_links() -> list[str]:
    """/bin, /lib... are symlinks into /usr on merged-/usr systems, real directories elsewhere."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = "/" + name
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
    return args


@functools.cache
def dev_and_proc() -> tuple[str, ...]:
    """bwrap options for /dev (before /dev/shm is mounted in it) and the /proc masks, for what
    this host has."""
    a = ["--perms", "0755", "--size", str(DEV_BYTES), "--tmpfs", "/dev"]
    for name in DEV_NODES:
        if os.path.exists(f"/dev/{name}"):
            a += ["--dev-bind", f"/dev/{name}", f"/dev/{name}"]
    for name, target in DEV_LINKS:
        a += ["--symlink", target, f"/dev/{name}"]
    for path in PROC_MASKED:
        if os.path.isdir(path):
            a += ["--perms", "0555", "--size", "4096", "--tmpfs", path, "--remount-ro", path]
        elif os.path.exists(path):
            a += ["--ro-bind", "/dev/null", path]
    return tuple(a)


def etc_paths(patterns: Iterable[str] = DEFAULT_ETC_PATHS) -> list[str]:
    """The existing host paths matching `patterns` (globs), each once, in order."""
    found: list[str] = []
    for pattern in patterns:
        found.extend(path for path in sorted(glob.glob(pattern)) if path not in found)
    return found


def passwd_line(uid: int) -> bytes:
    return (f"root:x:0:0:root:/root:/bin/sh\nbox:x:{uid}:{uid}:box:/tmp:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n").encode()


def group_line(uid: int) -> bytes:
    return f"root:x:0:\nbox:x:{uid}:\nnogroup:x:65534:\n".encode()


def argv(*, bwrap: str, box_path: str, uid: int, command: Iterable[str], tmp_bytes: int,
         ro_paths: Iterable[str], env: Iterable[tuple[str, str]], network: bool,
         extra: Iterable[str] = ()) -> list[str]:
    """bwrap's command line running `command` (`gated(...)` or `zygote(...)`'s), with `extra`
    options. The network namespace is always the sandbox's own: with `network` the supervisor
    gives it a user-mode uplink (network.py) instead of sharing the host's."""
    a = [bwrap,
         "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts",
         "--unshare-cgroup", "--unshare-net",
         "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
         "--uid", str(uid), "--gid", str(uid), "--hostname", "box",
         *extra, "--ro-bind", "/usr", "/usr", *_root_links()]
    for path in ro_paths:
        a += ["--ro-bind", path, path]
    if network:
        a += ["--info-fd", str(INFO_FD),
              "--ro-bind-data", str(RESOLV_FD), "/etc/resolv.conf",
              "--ro-bind-data", str(HOSTS_FD), "/etc/hosts"]
    a += ["--ro-bind-data", str(PASSWD_FD), "/etc/passwd",
          "--ro-bind-data", str(GROUP_FD), "/etc/group",
          "--proc", "/proc", *dev_and_proc(),
          "--size", str(tmp_bytes), "--tmpfs", "/tmp",
          "--size", str(tmp_bytes), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
          "--bind", box_path, BOX_DIR, "--chdir", BOX_DIR,
          "--remount-ro", "/",  # the skeleton root bwrap builds would otherwise be writable
          "--clearenv"]
    for key, value in env:
        a += ["--setenv", key, value]
    a += ["--seccomp", str(SECCOMP_FD), *command]
    return a
