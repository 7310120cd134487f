"""Following a started run to its end: its output pipes read as they fill, its clocks watched,
its cgroup killed at the first limit it reaches."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .cgroups import RunCgroup
from .outcome import decide
from .spec import Limits, Outcome, RunResult

POLL_MAX = 0.05  # the supervisor looks at the clocks at least this often (seconds)
READ_CHUNK = 65536


@dataclass
class Launch:
    """A started program, held until `go` is written: its process fd, the output pipes (read
    end -> captured bytes; `stdout` and `stderr` say which is which, None for a stream not
    captured) and how to learn its exit status (bwrap's convention: a negative status or
    128+N for a signal) once it has ended."""

    pidfd: int
    go: int
    streams: dict[int, bytearray]
    wait: Callable[[], int]
    stdout: int | None = None
    stderr: int | None = None
    fds: list[int] = field(default_factory=list)  # closed after the run
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    abandoned: Callable[[], None] | None = None  # called by close() when never waited for
    waited: bool = False

    def returncode(self) -> int:
        code = self.wait()
        self.waited = True
        return code

    def close(self) -> None:
        for fd in (self.pidfd, self.go, *self.streams, *self.fds):
            os.close(fd)
        for step in self.cleanup:
            step()
        if not self.waited and self.abandoned is not None:
            self.abandoned()


def wait_ready(ready_r: int, pidfd: int, timeout: float) -> bool:
    """True once the gate says the program is ready; False if bwrap ended or took too long."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([ready_r, pidfd], [], [], left)
        if ready_r in readable:
            return os.read(ready_r, 1) == b"\n"
        if pidfd in readable:
            return False
    return False


def follow(group: RunCgroup, launch: Launch, limits: Limits, held: int) -> RunResult:
    """Release the program and follow it to its end. Its memory is the cgroup's peak plus
    the box's files it found (`held` bytes)."""
    base_cpu = group.cpu_ns()
    group.reset_peak()
    start = time.monotonic()
    os.write(launch.go, b"\n")
    killed, end = _watch(group, launch.pidfd, launch.streams, limits, start, base_cpu)
    group.kill_all()  # daemons and background jobs die with the run
    returncode = launch.returncode()
    for fd, buf in launch.streams.items():
        buf += drain(fd, limits.output_bytes - len(buf))
    stats = group.stats()
    captured = {fd: bytes(buf) for fd, buf in launch.streams.items()}
    result = RunResult(
        Outcome.OK,
        cpu_time=max(0, stats.cpu_ns - base_cpu) / 1e9,
        wall_time=end - start,
        memory_kb=(stats.memory_peak_bytes + held) // 1024,
        stdout=captured.get(launch.stdout, b""),
        stderr=captured.get(launch.stderr, b""),
    )
    decide(result, returncode, killed, stats.oom_kills, limits)
    return result


def drain(fd: int, room: int) -> bytes:
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


def _watch(group: RunCgroup, pidfd: int, streams: dict[int, bytearray],
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
