"""Warm sandboxes: one bubblewrap sandbox per box session whose PID 1, the zygote (zygote.c),
forks each run, so the hot path costs a fork and an exec instead of building namespaces and
mounts every time.

A session is bound to the box's tmpfs (Box.generation): compiling and every run of a
submission share it, as they share the box's files. Every run still gets its own cgroup
(limits and measurements), its own rlimits, its own stdio, a SIGKILL of everything it left
behind, empty scratch directories (bwrap.RUN_SCRATCH: /tmp, /dev/shm) and no SysV IPC objects
of earlier runs (POSIX message queues are refused: RLIMIT_MSGQUEUE 0). Between submissions
(NativeSandbox.prepare) the zygote empties the box too and restores the modes and extended
attributes of every directory of bwrap.SESSION_SCRATCH, the only places a run can write, so
the next submission finds what a new sandbox would hold; after SESSION_SUBMISSIONS, or any
failure, the session is replaced by a new sandbox on a new tmpfs.

The zygote binary is compiled from zygote.c with the host's C compiler the first time a
sandbox needs it, into the boxes directory (root-owned), named after the source's hash.
Without a compiler the sandbox falls back to one bubblewrap per run (native.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import select
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("zygote.c")
MAGIC = 0x6A7A7931
CLEAN = b"jzyC"
_HEADER = struct.Struct("=IIII")
_RLIMIT = struct.Struct("=IIQQ")
_REPLY = struct.Struct("=ii")
_CRED = struct.Struct("=iII")
MAX_REQUEST = 65536
STOP_TIMEOUT = 2.0
# The zygote's own limits: no core dumps; every other limit is set per run, lowered from what
# the worker has (a run can never raise a hard limit back).
RLIMITS = [(resource.RLIMIT_CORE, (0, 0))]
SESSION_SUBMISSIONS = 500  # then a new sandbox: nothing accumulates without bound
_U64 = (1 << 64) - 1


class ZygoteError(RuntimeError):
    """The zygote did not start a run (or died); the run is reported as an internal error."""


def binary(directory: Path) -> Path | None:
    """The compiled zygote under `directory`, built now if needed; None without a C compiler
    (or when the build fails: the caller then runs without zygotes)."""
    source = SOURCE.read_bytes()
    target = directory / f".zygote-{hashlib.sha256(source).hexdigest()[:16]}"
    if target.exists():
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        log.warning("no C compiler: every sandboxed run starts its own bubblewrap (slower)")
        return None
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"{target.name}.{os.getpid()}.tmp"
    try:
        subprocess.run([compiler, "-O2", "-o", str(partial), str(SOURCE)], check=True,
                       capture_output=True, timeout=60)
        os.chmod(partial, 0o755)
        os.replace(partial, target)  # atomic: concurrent workers build the same bytes
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", b"") or b""
        log.warning("cannot build the zygote (%s %s): every run starts its own bubblewrap",
                    e, detail.decode(errors="replace").strip())
        partial.unlink(missing_ok=True)
        return None
    return target


def encode_request(argv: tuple[str, ...], env: dict[str, str],
                   rlimits: list[tuple[int, tuple[int, int]]]) -> bytes:
    strings = [*argv, *(f"{key}={value}" for key, value in env.items())]
    if any("\0" in s for s in strings):
        raise ZygoteError("a NUL byte in the command line or environment")
    parts = [_HEADER.pack(MAGIC, len(rlimits), len(argv), len(env))]
    parts += [_RLIMIT.pack(res, 0, soft & _U64, hard & _U64) for res, (soft, hard) in rlimits]
    parts += [s.encode() + b"\0" for s in strings]
    request = b"".join(parts)
    if len(request) >= MAX_REQUEST:
        raise ZygoteError(f"command line and environment exceed {MAX_REQUEST} bytes")
    return request


class Zygote:
    """A running zygote sandbox: `proc` is the outer bwrap, `control` our end of fd 3."""

    def __init__(self, proc: subprocess.Popen, control: socket.socket, generation: int,
                 ro_paths: list[str]):
        self.proc = proc
        self.control = control
        self.generation = generation
        self.ro_paths = ro_paths
        self.pidfd = os.pidfd_open(proc.pid)
        self.submissions = 1  # how many submissions this session has served

    def wait_ready(self, timeout: float) -> None:
        kind, _ = self._reply(timeout)
        if kind != ord("Z"):
            raise ZygoteError(f"unexpected first message {kind!r} from the zygote")

    def pids(self) -> set[int]:
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return {pid, *map(int, children)}

    def alive(self) -> bool:
        return not select.select([self.pidfd], [], [], 0)[0]

    def launch(self, request: bytes, fds: list[int], timeout: float) -> int:
        """Start a run: `fds` are its stdin, stdout, stderr and the go pipe's read end. Returns
        the host pid of the run's process, which is waiting for the go byte."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self.control.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                               struct.pack(f"{len(fds) + 1}i", *fds,
                                                           theirs.fileno()))])
            theirs.close()
            return self._reported_pid(ours, timeout)
        finally:
            theirs.close()
            ours.close()

    def _reported_pid(self, report: socket.socket, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([report, self.control, self.pidfd], [], [], left)
            if report in ready:
                data, ancillary, _, _ = report.recvmsg(16, socket.CMSG_SPACE(_CRED.size))
                for level, kind, payload in ancillary:
                    if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS) and data:
                        return _CRED.unpack(payload[:_CRED.size])[0]
                # closed without reporting: it failed before the go byte (its status follows)
                status = self.wait_status(timeout)
                raise ZygoteError(f"the run's process ended before starting (status {status})")
            if self.control in ready:
                kind, value = self._reply(0)
                raise ZygoteError(f"the zygote refused the run ({chr(kind)}: "
                                  f"{os.strerror(value) if kind == ord('F') else value})")
            if self.pidfd in ready:
                raise ZygoteError("the zygote exited")
        raise ZygoteError("the zygote did not start the run in time")

    def clean(self, timeout: float) -> None:
        """Make the session new for the next submission (zygote.c: the scratch directories
        emptied, their modes restored, SysV IPC removed); its runs must all be over."""
        self.control.send(CLEAN)
        kind, _ = self._reply(timeout)
        if kind != ord("C"):
            raise ZygoteError(f"unexpected answer {kind!r} to a clean request")
        self.submissions += 1

    def wait_status(self, timeout: float) -> int:
        """The wait status of the run's process (it has exited or is being killed)."""
        kind, value = self._reply(timeout)
        if kind != ord("X"):
            raise ZygoteError(f"unexpected message {kind!r} from the zygote")
        return value

    def _reply(self, timeout: float) -> tuple[int, int]:
        ready, _, _ = select.select([self.control, self.pidfd], [], [], timeout)
        if self.control not in ready:
            raise ZygoteError("the zygote exited" if ready else "no answer from the zygote")
        data = self.control.recv(_REPLY.size + 1)
        if len(data) != _REPLY.size:
            raise ZygoteError("the zygote exited" if not data else "malformed zygote message")
        return _REPLY.unpack(data)

    def stop(self) -> None:
        """End the session: closing the socket ends the zygote (PID 1: the namespace ends
        with it) and bwrap, which reaps it; SIGKILL only if that does not happen in time."""
        self.control.close()  # idempotent
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.pidfd)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
