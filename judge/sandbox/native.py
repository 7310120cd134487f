"""The native backend: bubblewrap + a cgroup per run + rlimits + seccomp, and the supervisor
loop that enforces the clocks and the output cap.

One `NativeSandbox` owns one box (see box.py) for its lifetime and runs one command at a time
in it. A run:

1. creates the run's cgroup (memory and pids limits);
2. forks; the child joins the cgroup, sets its rlimits, drops to the box's unprivileged uid and
   execs bwrap, which builds the namespaces and execs the gate shell (bwrap.GATE);
3. when the gate reports ready the supervisor (for a run with networking, after giving the
   run's network namespace its firewalled uplink, network.py) notes the cgroup's CPU counter,
   resets the peak memory and releases the program, so sandbox set-up is not billed to it;
4. polls the process fd, the output pipes and the cgroup CPU counter, killing the whole cgroup
   on the wall-clock limit, the CPU limit (limit + extra time) or the output cap;
5. kills whatever is left in the cgroup, reads CPU, peak memory and the OOM counter, removes it.
"""

from __future__ import annotations

import ctypes
import fcntl
import itertools
import math
import os
import resource
import select
import signal
import subprocess
import time
from pathlib import Path

from . import bwrap, network, seccomp
from .box import Box
from .cgroups import Hierarchy, RunCgroup
from .spec import Limits, Outcome, RunResult, RunSpec

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 38, 36
CLOSE_RANGE_CLOEXEC = 4
SETUP_TIMEOUT = 10.0  # seconds bwrap may take to build the sandbox
POLL_MAX = 0.05  # the supervisor looks at the clocks at least this often (seconds)
PIDS_OVERHEAD = 2  # the outer bwrap process and bwrap's init inside the pid namespace
READ_CHUNK = 65536
_HARD_LIMITS = {r: resource.getrlimit(r)[1] for r in (
    resource.RLIMIT_STACK, resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE, resource.RLIMIT_CPU,
    resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_CORE)}


class SandboxError(RuntimeError):
    """The sandbox could not run the command; the run is reported as an internal error."""


def _clamped(res: int, value: int) -> int:
    """Never above our own hard limit: root here lacks CAP_SYS_RESOURCE and cannot raise it."""
    hard = _HARD_LIMITS[res]
    inf = resource.RLIM_INFINITY
    return hard if hard != inf and (value == inf or value > hard) else value


def rlimits(limits: Limits) -> list[tuple[int, tuple[int, int]]]:
    """(resource, (soft, hard)) pairs for the run. CPU: per process in per-process mode
    (SIGXCPU at the soft limit), otherwise only a backstop the supervisor normally beats."""
    inf = resource.RLIM_INFINITY
    wanted = {
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NOFILE: limits.open_files,
        resource.RLIMIT_STACK: limits.stack_kb * 1024 if limits.stack_kb else inf,
        resource.RLIMIT_FSIZE: limits.file_size_kb * 1024 if limits.file_size_kb else inf,
        resource.RLIMIT_NPROC: limits.processes + PIDS_OVERHEAD + 1,
    }
    if limits.per_process_memory:
        wanted[resource.RLIMIT_AS] = limits.memory_kb * 1024
    out = [(res, (_clamped(res, value), _clamped(res, value))) for res, value in wanted.items()]
    if limits.per_process_time:
        soft = math.ceil(limits.cpu_kill_after)
        cpu = (_clamped(resource.RLIMIT_CPU, soft), _clamped(resource.RLIMIT_CPU, soft + 1))
    else:
        backstop = _clamped(resource.RLIMIT_CPU, math.ceil(limits.cpu_kill_after) + 1)
        cpu = (backstop, backstop)
    return [(resource.RLIMIT_CPU, cpu), *out]


def cgroup_memory_bytes(limits: Limits) -> int:
    """Per-process memory mode limits each process's address space; the cgroup then only
    keeps the run as a whole from taking the machine."""
    if limits.per_process_memory:
        return limits.memory_kb * 1024 * min(limits.processes, 16)
    return limits.memory_kb * 1024


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class NativeSandbox:
    """Runs commands in one box with bubblewrap. Not thread-safe: one run at a time."""

    def __init__(self, box: Box, hierarchy: Hierarchy, *, ro_paths: list[str] | None = None,
                 tmp_kb: int = 64 * 1024):
        binary = bwrap.bwrap_binary()
        if binary is None:
            raise SandboxError("bwrap not found: install the 'bubblewrap' package")
        self.bwrap = binary
        self.box = box
        self.hierarchy = hierarchy
        self.ro_paths = bwrap.etc_paths() if ro_paths is None else ro_paths
        self.tmp_bytes = tmp_kb * 1024
        self._seq = itertools.count()
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # see _reap_strays

    def close(self) -> None:
        """Give the box back (its tmpfs is unmounted, its lock released)."""
        self.box.release()

    def run(self, spec: RunSpec) -> RunResult:
        self._reap_strays()  # the previous run's pid-1 has exited by now
        limits = spec.limits
        name = f"{self.box.cgroup_prefix}{os.getpid()}-{next(self._seq)}"
        try:
            group = self.hierarchy.create(name, cgroup_memory_bytes(limits),
                                          limits.processes + PIDS_OVERHEAD)
        except OSError as e:
            return RunResult(Outcome.INTERNAL_ERROR, message=f"cannot create cgroup: {e}")
        try:
            return self._run(spec, group)
        except (OSError, SandboxError, subprocess.SubprocessError) as e:
            return RunResult(Outcome.INTERNAL_ERROR, message=f"sandbox failure: {e}")
        finally:
            group.destroy()
            self._reap_strays()

    def _reap_strays(self) -> None:
        """Reap sandbox processes re-parented to us (we are a child subreaper): bwrap's pid-1
        outlives the outer bwrap by a few ms. Left to an init that reaps late (or to no init:
        a worker that is PID 1 of its container), they would count against the box uid's
        RLIMIT_NPROC. Only zombies of this box's uid are reaped; the first other child's
        zombie stops the scan (it is someone else's to wait for)."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_uid != self.box.uid:
                return
            try:
                os.waitpid(info.si_pid, os.WNOHANG)
            except ChildProcessError:
                return

    # -- launching -------------------------------------------------------------------------

    def _stdin_fd(self, stdin: bytes | Path | None) -> int:
        if stdin is None:
            return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        if isinstance(stdin, Path):
            return os.open(stdin, os.O_RDONLY | os.O_CLOEXEC)
        return _memfd("judge-stdin", stdin)

    def _preexec(self, group: RunCgroup, limits: Limits, child_fds: list[int]):
        uid = self.box.uid
        limit_calls = rlimits(limits)
        targets = bwrap.CHILD_FDS
        if len(child_fds) > len(targets):
            targets += bwrap.NETWORK_FDS

        def preexec() -> None:  # between fork and exec: no locks, no threads, keep it plain
            group.join_self()
            # Move the hand-over fds to the fixed numbers bwrap.argv() names (before
            # RLIMIT_NOFILE: the copies may need fd numbers above the program's limit).
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 16) for fd in child_fds]
            for target, fd in zip(targets, high, strict=True):
                os.dup2(fd, target)
            _libc.close_range(len(targets) + 3, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
            for res, value in limit_calls:
                resource.setrlimit(res, value)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

        return preexec

    def _spawn(self, spec: RunSpec, group: RunCgroup, ready_w: int, go_r: int,
               info_w: int | None):
        env = dict(bwrap.BASE_ENV)
        env.update(spec.env)
        ro_paths = self.ro_paths + [path for path in bwrap.etc_paths(spec.mounts)
                                    if path not in self.ro_paths]
        argv = bwrap.argv(bwrap=self.bwrap, box_path=str(self.box.path), uid=self.box.uid,
                          program=spec.argv, tmp_bytes=self.tmp_bytes, ro_paths=ro_paths,
                          env=env.items(), network=spec.network)
        created = [seccomp.filter_fd(spec.network),
                   _memfd("judge-passwd", bwrap.passwd_line(self.box.uid)),
                   _memfd("judge-group", bwrap.group_line(self.box.uid))]
        child_fds = [ready_w, go_r, *created]
        if info_w is not None:  # networking: bwrap.NETWORK_FDS
            resolv_hosts = [_memfd("judge-resolv", network.RESOLV_CONF),
                            _memfd("judge-hosts", network.HOSTS)]
            created += resolv_hosts
            child_fds += [info_w, *resolv_hosts]
        try:
            stdin = self._stdin_fd(spec.stdin)
            created.append(stdin)
            return subprocess.Popen(
                argv, stdin=stdin, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if spec.stderr_to_stdout else subprocess.PIPE,
                preexec_fn=self._preexec(group, spec.limits, child_fds),
                close_fds=False, start_new_session=True, cwd=self.box.path,
                env={"PATH": "/usr/bin:/bin"})
        finally:
            for fd in created:
                os.close(fd)

    @staticmethod
    def _connect(info_r: int) -> network.Uplink:
        """Give the run's network namespace its firewalled uplink (see network.py)."""
        try:
            return network.attach(network.sandbox_pid(info_r, SETUP_TIMEOUT))
        except (network.NetworkError, OSError) as e:
            raise SandboxError(f"networking: {e}") from e

    # -- supervising -----------------------------------------------------------------------

    def _run(self, spec: RunSpec, group: RunCgroup) -> RunResult:
        limits = spec.limits
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        info_r, info_w = os.pipe2(os.O_CLOEXEC) if spec.network else (None, None)
        try:
            proc = self._spawn(spec, group, ready_w, go_r, info_w)
        except BaseException:
            for fd in (ready_r, go_w, info_r):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            for fd in (ready_w, go_r, info_w):
                if fd is not None:
                    os.close(fd)
        pidfd = os.pidfd_open(proc.pid)
        uplink: network.Uplink | None = None
        stdout, stderr = bytearray(), bytearray()
        streams = {proc.stdout.fileno(): stdout}
        if proc.stderr is not None:
            streams[proc.stderr.fileno()] = stderr
        try:
            if not self._wait_ready(ready_r, pidfd):
                proc.wait()
                err = b"".join(self._drain(fd, 4096) for fd in streams)
                raise SandboxError(f"bubblewrap did not start the program (exit status "
                                   f"{proc.returncode}): {err.decode(errors='replace').strip()}")
            if info_r is not None:
                try:
                    uplink = self._connect(info_r)
                except SandboxError:
                    group.kill_all()
                    proc.wait()
                    raise
            base_cpu = group.cpu_ns()
            group.reset_peak()
            start = time.monotonic()
            os.write(go_w, b"\n")
            killed, end = self._supervise(group, pidfd, streams, limits, start, base_cpu)
            group.kill_all()  # daemons and background jobs die with the run
            proc.wait()
            for fd, buf in streams.items():
                buf += self._drain(fd, limits.output_bytes - len(buf))
            stats = group.stats()
        finally:
            if uplink is not None:
                uplink.close()
            for fd in (ready_r, go_w, pidfd, info_r):
                if fd is not None:
                    os.close(fd)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        result = RunResult(
            Outcome.OK,
            cpu_time=max(0, stats.cpu_ns - base_cpu) / 1e9,
            wall_time=end - start,
            memory_kb=stats.memory_peak_bytes // 1024,
            stdout=bytes(stdout),
            stderr=bytes(stderr),
        )
        _decide(result, proc.returncode, killed, stats.oom_kills, limits)
        return result

    @staticmethod
    def _wait_ready(ready_r: int, pidfd: int) -> bool:
        deadline = time.monotonic() + SETUP_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([ready_r, pidfd], [], [], left)
            if ready_r in readable:
                return os.read(ready_r, 1) == b"\n"
            if pidfd in readable:
                return False
        return False

    @staticmethod
    def _drain(fd: int, room: int) -> bytes:
        """Read what is left in a pipe whose writers are all dead, keeping at most `room`."""
        out = bytearray()
        os.set_blocking(fd, False)
        while True:
            try:
                chunk = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                break
            out += chunk[:max(room - len(out), 0)]
        return bytes(out)

    @staticmethod
    def _supervise(group: RunCgroup, pidfd: int, streams: dict[int, bytearray],
                   limits: Limits, start: float, base_cpu: int) -> tuple[Outcome | None, float]:
        """Run until the program exits or is killed for a limit; returns the limit that
        killed it (or None) and the wall-clock time of the end."""
        for fd in streams:
            os.set_blocking(fd, False)
        open_fds = set(streams)
        deadline = start + limits.wall_time
        cpu_budget_ns = None if limits.per_process_time else int(limits.cpu_kill_after * 1e9)
        cores = os.cpu_count() or 1
        killed: Outcome | None = None
        timeout = 0.0
        while True:
            readable, _, _ = select.select([*open_fds, pidfd], [], [], timeout)
            for fd in readable:
                if fd == pidfd:
                    continue
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    open_fds.discard(fd)
                    continue
                buf = streams[fd]
                room = limits.output_bytes - len(buf)
                buf += chunk[:max(room, 0)]
                if len(chunk) > room and killed is None:
                    killed = Outcome.OUTPUT_LIMIT
                    group.kill_all()
            now = time.monotonic()
            if pidfd in readable:
                return killed, now
            if killed is not None:
                timeout = POLL_MAX
                continue
            if now >= deadline:
                killed = Outcome.TIME_LIMIT_WALL
                group.kill_all()
                continue
            timeout = min(deadline - now, POLL_MAX)
            if cpu_budget_ns is not None:
                used = group.cpu_ns() - base_cpu
                if used >= cpu_budget_ns:
                    killed = Outcome.TIME_LIMIT_CPU
                    group.kill_all()
                    continue
                # the budget cannot run out sooner than this, even with every core busy
                timeout = min(timeout, max((cpu_budget_ns - used) / 1e9 / cores, 0.001))


def _decide(result: RunResult, returncode: int, killed: Outcome | None, oom_kills: int,
            limits: Limits) -> None:
    """Fill outcome, exit code, signal and message. bwrap reports a payload killed by signal
    N as exit status 128+N, so statuses above 128 are read as signals (a program that calls
    exit(137) is indistinguishable from one killed by SIGKILL)."""
    signum = returncode - 128 if 128 < returncode <= 128 + 64 else None
    if signum is None and returncode < 0:  # bwrap itself was killed (by our cgroup kill)
        signum = -returncode
    if signum is not None:
        result.signal = signum
    else:
        result.exit_code = returncode
    if killed is not None:
        result.outcome = killed
    elif oom_kills:
        result.outcome = Outcome.MEMORY_LIMIT
    elif signum == signal.SIGXCPU or (not limits.per_process_time
                                        and result.cpu_time > limits.cpu_time):
        result.outcome = Outcome.TIME_LIMIT_CPU
    elif result.wall_time > limits.wall_time:
        result.outcome = Outcome.TIME_LIMIT_WALL
    elif signum is not None:
        result.outcome = Outcome.SIGNALED
    elif returncode != 0:
        result.outcome = Outcome.NONZERO_EXIT
    result.message = _MESSAGES.get(result.outcome, "").format(
        code=result.exit_code, signal=result.signal) or None


_MESSAGES = {
    Outcome.NONZERO_EXIT: "Exited with error status {code}",
    Outcome.SIGNALED: "Caught fatal signal {signal}",
    Outcome.TIME_LIMIT_CPU: "Time limit exceeded",
    Outcome.TIME_LIMIT_WALL: "Time limit exceeded (wall clock)",
    Outcome.MEMORY_LIMIT: "Memory limit exceeded",
    Outcome.OUTPUT_LIMIT: "Output limit exceeded",
}
