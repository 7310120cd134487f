"""One cgroup per sandboxed run, on cgroup v1 or v2, for limits, accounting and killing.

Why cgroups and not rlimits or wait4: the cgroup limits memory without RLIMIT_AS (which
breaks Java, Node and Go), counts CPU and peak memory of every process of the run (wait4 is
blind under bubblewrap's pid namespace), tells an OOM kill apart from a crash, and can kill
everything the run started, including double-forked daemons.

v1 (and hybrid hosts like ours): one directory per run in the memory, pids, cpuacct and
freezer hierarchies. v2: one directory per run in a delegated subtree with memory and pids
enabled (cpu too where delegated: only cpu.stat's usage_usec is read, which exists without
it); see `V2Hierarchy` for how the subtree is prepared and which cgroups count as delegated.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_MOUNT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpuacct", "freezer")
V2_REQUIRED = ("memory", "pids")
V2_OPTIONAL = ("cpu",)
DELEGATE_XATTR = "trusted.delegate"  # set by systemd on the cgroup of a Delegate=yes unit
INITIAL_CGROUP_NS = 0xEFFFFFFB  # the host's cgroup namespace (a container has its own)
DELEGATION_HELP = (
    "run the worker in a systemd unit with Delegate=yes (deploy/systemd/judge-worker@.service, "
    "or `systemd-run --scope -p Delegate=yes -- judge worker`), in a container with a private "
    "cgroup namespace and /sys/fs/cgroup mounted read-write, or set SANDBOX_CGROUP_ROOT to a "
    "cgroup directory this worker may manage")


class CgroupError(RuntimeError):
    """The cgroup hierarchy cannot be used; the message says what to fix."""


@dataclass
class CgroupStats:
    cpu_ns: int  # CPU of every process that was in the cgroup
    memory_peak_bytes: int
    oom_kills: int
    pids_refused: int  # forks refused by pids.max


def _write(path: Path | str, value: object) -> None:
    # os-level calls: a run reads and writes about fifteen of these files, and Python's
    # buffered text files cost several times as much per file.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value if isinstance(value, bytes) else str(value).encode())
    finally:
        os.close(fd)


def _read(path: Path | str) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(fd)


def _keyed(path: Path | str) -> dict[str, int]:
    """Parse 'key value' lines (memory.events, cpu.stat, pids.events, oom_control)."""
    out: dict[str, int] = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _mkdir(path: str) -> None:
    try:
        os.mkdir(path)
    except FileExistsError:
        pass


def _rmdir(path: str) -> None:
    """Remove a cgroup directory, waiting briefly while exiting tasks release it."""
    for _ in range(200):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            time.sleep(0.002)
    raise CgroupError(f"cgroup {path} stays busy after its processes were killed")


class RunCgroup:
    """The cgroup of one run. Created with its limits; `join_self` is called in the
    child between fork and exec; `destroy` kills whatever is left and removes it."""

    def join_self(self) -> None:
        raise NotImplementedError

    def attach(self, pid: int) -> None:
        """Move process `pid` (a host pid) into the cgroup."""
        raise NotImplementedError

    def procs(self) -> list[int]:
        raise NotImplementedError

    def cpu_ns(self) -> int:
        raise NotImplementedError

    def stats(self) -> CgroupStats:
        raise NotImplementedError

    def kill_all(self) -> None:
        raise NotImplementedError

    def reset_peak(self) -> None:
        """Forget memory used by the sandbox's own set-up (best effort)."""

    def destroy(self) -> None:
        raise NotImplementedError


class V1Cgroup(RunCgroup):
    """One directory per controller. The constructor attaches to existing directories
    (creating missing ones, which kill_all and destroy expect); `create` also sets limits.
    Paths are plain strings, made once: a run creates, reads and writes about twenty of these
    files, and through pathlib that cost more than the system calls."""

    def __init__(self, paths: dict[str, str]):
        self.paths = paths
        for path in paths.values():
            _mkdir(path)
        self._procs_files = [p + "/cgroup.procs" for p in paths.values()]
        self._listed = paths["freezer"] + "/cgroup.procs"
        self._freezer = paths["freezer"] + "/freezer.state"
        self._cpu = paths["cpuacct"] + "/cpuacct.usage"
        self._peak = paths["memory"] + "/memory.max_usage_in_bytes"
        self._oom = paths["memory"] + "/memory.oom_control"
        self._pids_events = paths["pids"] + "/pids.events"

    @classmethod
    def create(cls, paths: dict[str, str], memory_bytes: int, pids_max: int) -> V1Cgroup:
        group = cls(paths)
        memory = paths["memory"]
        _write(memory + "/memory.limit_in_bytes", memory_bytes)
        try:  # memory+swap = memory: no swapping out of the limit (absent without swap accounting)
            _write(memory + "/memory.memsw.limit_in_bytes", memory_bytes)
        except OSError:
            pass
        _write(paths["pids"] + "/pids.max", pids_max)
        return group

    def join_self(self) -> None:
        # Runs between fork and exec: plain os calls only, no Python-level allocation worth
        # speaking of. "0" means the writing process itself.
        for name in self._procs_files:
            _write(name, b"0")

    def attach(self, pid: int) -> None:
        for name in self._procs_files:
            _write(name, pid)

    def procs(self) -> list[int]:
        return [int(x) for x in _read(self._listed).split()]

    def cpu_ns(self) -> int:
        return int(_read(self._cpu))

    def reset_peak(self) -> None:
        _write(self._peak, 0)

    def stats(self) -> CgroupStats:
        return CgroupStats(
            cpu_ns=self.cpu_ns(),
            memory_peak_bytes=int(_read(self._peak)),
            oom_kills=_keyed(self._oom).get("oom_kill", 0),
            pids_refused=_keyed(self._pids_events).get("max", 0),
        )

    def kill_all(self) -> None:
        # Freeze first so a fork bomb cannot outrun the kill loop; SIGKILL is delivered on thaw.
        for _ in range(1000):
            pids = self.procs()
            if not pids:
                return
            _write(self._freezer, "FROZEN")
            try:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            finally:  # never leave a frozen run behind: its processes could not even die
                _write(self._freezer, "THAWED")
            time.sleep(0.001)
        raise CgroupError(f"processes of {self.paths['freezer']} survive SIGKILL")

    def destroy(self) -> None:
        self.kill_all()
        for path in self.paths.values():
            _rmdir(path)


class V2Cgroup(RunCgroup):
    """One directory in the delegated subtree; `create` makes it and sets the limits."""

    def __init__(self, path: Path):
        self.path = path
        self._dir = str(path)  # the files as plain strings (see V1Cgroup)
        self._procs_file = self._dir + "/cgroup.procs"

    @classmethod
    def create(cls, path: Path, memory_bytes: int, pids_max: int) -> V2Cgroup:
        group = cls(path)
        _mkdir(group._dir)
        _write(group._dir + "/memory.max", memory_bytes)
        try:
            _write(group._dir + "/memory.swap.max", 0)
        except OSError:
            pass
        _write(group._dir + "/memory.oom.group", 1)  # an OOM kill takes the whole run down
        _write(group._dir + "/pids.max", pids_max)
        return group

    def join_self(self) -> None:
        _write(self._procs_file, b"0")

    def attach(self, pid: int) -> None:
        _write(self._procs_file, pid)

    def procs(self) -> list[int]:
        return [int(x) for x in _read(self._procs_file).split()]

    def cpu_ns(self) -> int:
        return _keyed(self._dir + "/cpu.stat")["usage_usec"] * 1000

    def reset_peak(self) -> None:
        try:  # writable since Linux 6.12; older kernels keep the set-up in the peak
            _write(self._dir + "/memory.peak", 0)
        except OSError:
            pass

    def stats(self) -> CgroupStats:
        events = _keyed(self._dir + "/memory.events")
        try:
            peak = int(_read(self._dir + "/memory.peak"))
        except FileNotFoundError:  # before Linux 5.19
            peak = int(_read(self._dir + "/memory.current"))
        return CgroupStats(
            cpu_ns=self.cpu_ns(),
            memory_peak_bytes=peak,
            oom_kills=events.get("oom_kill", 0),
            pids_refused=_keyed(self._dir + "/pids.events").get("max", 0),
        )

    def kill_all(self) -> None:
        _write(self._dir + "/cgroup.kill", 1)
        for _ in range(2000):
            if "populated 0" in _read(self._dir + "/cgroup.events"):
                return
            time.sleep(0.001)
        raise CgroupError(f"processes of {self.path} survive cgroup.kill")

    def destroy(self) -> None:
        self.kill_all()
        _rmdir(self._dir)


class Hierarchy:
    """Where run cgroups live. `create(name, ...)` makes one; `names()` lists existing ones
    (for cleaning up after a crashed worker)."""

    version: int

    def create(self, name: str, memory_bytes: int, pids_max: int) -> RunCgroup:
        raise NotImplementedError

    def names(self) -> list[str]:
        raise NotImplementedError

    def open(self, name: str) -> RunCgroup:
        """An existing run cgroup, to kill and remove it."""
        raise NotImplementedError


class V1Hierarchy(Hierarchy):
    version = 1

    def __init__(self, parent: str = "judge"):
        self.parents = {c: f"{CGROUP_MOUNT}/{c}/{parent}" for c in V1_CONTROLLERS}
        for path in self.parents.values():
            _mkdir(path)

    def create(self, name: str, memory_bytes: int, pids_max: int) -> V1Cgroup:
        return V1Cgroup.create(self._paths(name), memory_bytes, pids_max)

    def names(self) -> list[str]:
        found: set[str] = set()
        for path in self.parents.values():
            found.update(entry.name for entry in os.scandir(path) if entry.is_dir())
        return sorted(found)

    def open(self, name: str) -> V1Cgroup:
        return V1Cgroup(self._paths(name))

    def _paths(self, name: str) -> dict[str, str]:
        return {c: f"{p}/{name}" for c, p in self.parents.items()}


class V2Hierarchy(Hierarchy):
    """A delegated cgroup v2 subtree: the worker's own cgroup P (from /proc/self/cgroup), or
    SANDBOX_CGROUP_ROOT. P counts as delegated when systemd marked it so (a Delegate=yes
    unit), when it is the root of a private cgroup namespace (a container), when no systemd
    manages the host's cgroups, or when the operator named it: a cgroup someone else
    manages (a login session's scope, a service without Delegate=yes) is never taken over.
    Because of v2's no-internal-processes rule the processes of P are moved into
    P/supervisor before controllers are enabled for P's children; runs live in P/boxes/<name>.
    """

    version = 2

    def __init__(self, root: Path, named: bool = False):
        self.root = root
        self.parent = root / "boxes"
        if (self.parent / "cgroup.subtree_control").exists() and \
                set(V2_REQUIRED) <= set(_read(self.parent / "cgroup.subtree_control").split()):
            return  # prepared already (by another worker sharing P, or an earlier start)
        if not named and not _delegated(root):
            raise CgroupError(f"the worker's cgroup {root} was not delegated to it, and taking "
                              f"it over would move processes someone else manages: "
                              f"{DELEGATION_HELP}")
        self._delegate()

    def _delegate(self) -> None:
        available = set(_read(self.root / "cgroup.controllers").split())
        missing = [c for c in V2_REQUIRED if c not in available]
        if missing:  # checked before anything moves
            raise CgroupError(
                f"the {' and '.join(missing)} controller{'s are' if len(missing) > 1 else ' is'}"
                f" not available in {self.root} (it offers: {' '.join(sorted(available)) or 'none'}"
                f"): {DELEGATION_HELP}")
        enable = " ".join("+" + c for c in (*V2_REQUIRED, *V2_OPTIONAL) if c in available)
        leaf = self.root / "supervisor"
        leaf.mkdir(exist_ok=True)
        for pid in _read(self.root / "cgroup.procs").split():
            try:
                _write(leaf / "cgroup.procs", pid)
            except OSError:
                pass  # exited meanwhile, or a kernel thread
        try:
            _write(self.root / "cgroup.subtree_control", enable)
            self.parent.mkdir(exist_ok=True)
            _write(self.parent / "cgroup.subtree_control", enable)
        except OSError as e:
            raise CgroupError(f"cannot enable {enable} below {self.root}: {e}: "
                              f"{DELEGATION_HELP}") from e

    def create(self, name: str, memory_bytes: int, pids_max: int) -> V2Cgroup:
        return V2Cgroup.create(self.parent / name, memory_bytes, pids_max)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.parent.iterdir() if p.is_dir())

    def open(self, name: str) -> V2Cgroup:
        return V2Cgroup(self.parent / name)


def in_own_cgroup_namespace() -> bool:
    """Not the host's cgroup namespace: a container's."""
    return os.stat("/proc/self/ns/cgroup").st_ino != INITIAL_CGROUP_NS


def _delegated(root: Path) -> bool:
    """Whether `root` is ours to manage (see V2Hierarchy)."""
    try:
        if os.getxattr(root, DELEGATE_XATTR) == b"1":
            return True
    except OSError:
        pass
    if in_own_cgroup_namespace():
        return root == CGROUP_MOUNT  # a container's own cgroup namespace: its root is ours
    return not Path("/run/systemd/system").is_dir() and root != CGROUP_MOUNT
