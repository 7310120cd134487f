"""The standard streams of one run: what the program gets as its fds 0, 1 and 2, and which of
them the supervisor captures (supervise.follow reads those under the output cap).

By default stdin is a memfd of RunSpec.stdin (or a host file, or /dev/null), and stdout and
stderr are pipes the supervisor reads. RunSpec.stdin_fd and stdout_fd replace stdin and the
stdout pipe with the caller's descriptors (an interactive run's pipes, judging/interaction.py);
stderr is still captured, unless stderr_to_stdout sends it wherever stdout goes.

Ownership. A program may open its streams again by path (/dev/stdin, /dev/stdout,
/proc/self/fd/N), as it could a file in Judge0, and for a pipe the kernel then checks the
pipe's owner and mode. The supervisor's own pipes are made the box uid's (mode 0600: nobody
else holds them). A caller's pipe gets the same rule by direction, so that the two sandboxes
of an interactive run, which share each pipe, agree on it whichever sets it up first: a
stdout_fd pipe is made the writing box's, a stdin_fd pipe readable by others (0604). So the
reading box may reopen its stdin for reading but never for writing (it cannot forge what it is
told), and the writing box only its own output. A pipe has no path: only a process holding
it, or one allowed to look into a holder's /proc/<pid>/fd (root, the holder's uid), can open
it, so "others" are the holders of the other end. Other kinds of descriptors (a file, a
socket) are used as they are.

Every descriptor the program gets is ours to close once it holds its own copies
(`handed_over`), the caller's too: a copy left open in the worker would keep the far end of a
pipe from ever seeing EOF.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .spec import RunSpec

STDIN_PIPE_MODE = 0o604  # a caller's stdin pipe: its writer may write, its reader reopen it


def memfd(name: str, data: bytes) -> int:
    """An fd holding `data`, positioned at its start. Close-on-exec, so that a fork by
    another thread (a second sandbox of this process) never inherits it: a child gets it
    only where a launch puts it."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _stdin(stdin: bytes | Path | None) -> int:
    if stdin is None:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    if isinstance(stdin, Path):
        return os.open(stdin, os.O_RDONLY | os.O_CLOEXEC)
    return memfd("judge-stdin", stdin)


class Stdio:
    """The streams of one run, from before its launch until the supervisor has them.
    `close()` (idempotent) releases whatever is still ours, whatever happened."""

    def __init__(self, spec: RunSpec, uid: int) -> None:
        self.spec = spec
        self.uid = uid
        self.streams: dict[int, bytearray] = {}  # read ends of the captured pipes
        self.stdout: int | None = None  # the stream capturing stdout (None: not captured)
        self.stderr: int | None = None
        self._theirs: list[int] = list(spec.given_fds())  # the program's, ours to close

    def open(self) -> tuple[int, int, int]:
        """The program's fds 0, 1 and 2: pipes made, ownership set (see the module)."""
        spec = self.spec
        if spec.stdin_fd is None:
            stdin = _stdin(spec.stdin)
            self._theirs.append(stdin)
        else:
            stdin = spec.stdin_fd
            self._adopt(stdin, reading=True)
        if spec.stdout_fd is None:
            self.stdout, stdout = self._pipe()
        else:
            stdout = spec.stdout_fd
            self._adopt(stdout, reading=False)
        if spec.stderr_to_stdout:
            stderr = stdout
        else:
            self.stderr, stderr = self._pipe()
        return stdin, stdout, stderr

    def _pipe(self) -> tuple[int, int]:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        self.streams[read_end] = bytearray()
        self._theirs.append(write_end)
        os.fchown(read_end, self.uid, self.uid)
        return read_end, write_end

    def _adopt(self, fd: int, *, reading: bool) -> None:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        if reading:
            os.fchmod(fd, STDIN_PIPE_MODE)
        else:
            os.fchown(fd, self.uid, self.uid)

    def handed_over(self) -> None:
        """The program holds its own copies now (or never will): close ours."""
        theirs, self._theirs = self._theirs, []
        for fd in theirs:
            os.close(fd)

    def detach(self) -> dict[int, bytearray]:
        """The captured streams, now the caller's to close."""
        streams, self.streams = self.streams, {}
        return streams

    def close(self) -> None:
        self.handed_over()
        for fd in self.detach():
            os.close(fd)
