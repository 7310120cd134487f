"""What a sandboxed run is asked to do (`RunSpec`, `Limits`) and what it did (`RunResult`).

These types are the whole contract between the pipeline and a sandbox backend: the compile,
run and archive-extraction steps all describe themselves with a `RunSpec` and read a
`RunResult`, whichever backend (native bubblewrap, Docker) executes them; both backends are a
`Sandbox`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Outcome(enum.Enum):
    """How a run ended, in the order a verdict looks at them."""

    OK = "ok"  # exited with status 0
    NONZERO_EXIT = "nonzero_exit"
    SIGNALED = "signaled"  # killed by a signal it received or raised itself
    TIME_LIMIT_CPU = "time_limit_cpu"
    TIME_LIMIT_WALL = "time_limit_wall"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"  # stdout/stderr larger than the output cap
    INTERNAL_ERROR = "internal_error"  # the sandbox itself failed; the program may not have run


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run. Sizes are in KB (1024 bytes) like Judge0's; 0 = no limit
    for `stack_kb` and `file_size_kb` (isolate's convention)."""

    cpu_time: float = 5.0  # seconds of CPU, all processes together unless per_process_time
    extra_cpu_time: float = 1.0  # grace before the kill; the verdict still uses cpu_time
    wall_time: float = 10.0
    memory_kb: int = 128_000
    stack_kb: int = 64_000
    processes: int = 60  # processes and threads
    file_size_kb: int = 1024  # largest file the program may write
    output_bytes: int = 1024 * 1024  # cap on captured stdout and on captured stderr
    open_files: int = 256
    per_process_time: bool = False  # CPU limit per process (RLIMIT_CPU) instead of the total
    per_process_memory: bool = False  # address-space limit per process instead of the total
    memory_ceiling_kb: int = 512_000  # per-process mode: the most all processes may hold

    @property
    def cpu_kill_after(self) -> float:
        """CPU seconds after which the run is killed: the limit plus the extra time."""
        return self.cpu_time + self.extra_cpu_time


@dataclass(frozen=True)
class RunSpec:
    """One command to run in a box. `argv` runs with the box as working directory
    (`/box` inside the sandbox); paths in it are paths inside the sandbox."""

    argv: tuple[str, ...]
    limits: Limits = field(default_factory=Limits)
    stdin: bytes | Path | None = None  # bytes, a host file, or nothing (/dev/null)
    env: tuple[tuple[str, str], ...] = ()  # added to the fixed minimal environment
    network: bool = False  # outbound networking through a user-mode stack (network.py)
    stderr_to_stdout: bool = False  # with stdout_fd, stderr goes to that descriptor too
    mounts: tuple[str, ...] = ()  # extra read-only host paths (globs) this command needs
    # Descriptors the program gets as its stdin / stdout instead of `stdin` / a captured pipe
    # (an interactive run's pipes, interaction.py). The run takes them over: the sandbox
    # closes them once the program holds its own copies, and in any case before run()
    # returns, so that the program's end alone closes its side (its peer sees EOF or EPIPE).
    # A spec holding them runs once; pass os.dup(fd) to keep one. stdout written to
    # stdout_fd is not captured (RunResult.stdout stays empty) and not under output_bytes.
    stdin_fd: int | None = None
    stdout_fd: int | None = None

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("RunSpec.argv must name a program")
        if self.stdin_fd is not None and self.stdin is not None:
            raise ValueError("RunSpec takes stdin or stdin_fd, not both")
        if any(fd is not None and fd < 0 for fd in (self.stdin_fd, self.stdout_fd)):
            raise ValueError("RunSpec.stdin_fd and stdout_fd must be file descriptors")
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "mounts", tuple(self.mounts))
        object.__setattr__(self, "env", tuple(dict(self.env).items()))

    def given_fds(self) -> tuple[int, ...]:
        """The caller's descriptors this run takes over, each once (stdin_fd may be
        stdout_fd, e.g. one end of a socket pair)."""
        return tuple(dict.fromkeys(fd for fd in (self.stdin_fd, self.stdout_fd)
                                   if fd is not None))


@dataclass
class RunResult:
    """What happened. `cpu_time` and `memory_kb` come from the run's cgroup (all processes),
    `wall_time` from the supervisor's monotonic clock, all measured from the moment the
    program was released (sandbox set-up is not counted)."""

    outcome: Outcome
    exit_code: int | None = None
    signal: int | None = None
    cpu_time: float = 0.0
    wall_time: float = 0.0
    memory_kb: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    message: str | None = None


Entries = list[tuple[str, int, "bytes | None"]]  # a box's contents: (path, mode, data or None)


class BoxFiles(Protocol):
    """What the pipeline does with a box's files (box.Box on the host, memory_box.MemoryBox
    for the docker backend)."""

    size_kb: int

    def reset(self) -> None: ...
    def write(self, name: str, data: bytes, mode: int = 0o644) -> None: ...
    def replace(self, name: str, data: bytes, mode: int = 0o644) -> None: ...
    def read(self, name: str, limit: int) -> bytes | None: ...
    def exists(self, name: str) -> bool: ...
    def snapshot(self, max_bytes: int, strict: bool = False) -> Entries: ...
    def restore(self, entries: Entries) -> None: ...


class Sandbox(Protocol):
    """A backend: runs one RunSpec at a time in its box (native.NativeSandbox,
    docker_backend.DockerSandbox)."""

    box: BoxFiles

    def run(self, spec: RunSpec) -> RunResult: ...
    def prepare(self) -> None: ...
    def close(self) -> None: ...
