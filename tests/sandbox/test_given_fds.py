"""RunSpec.stdin_fd and stdout_fd on one sandbox, both launch paths: the program reads and
writes the caller's descriptors, nothing of stdout is captured, stderr still is, the
file-size limit bounds a file, and the sandbox closes the descriptors it was handed whatever
becomes of the run (judge/sandbox/stdio.py)."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
from collections.abc import Iterator

import pytest

from judge.sandbox import Limits, NativeSandbox, Outcome, RunSpec

from .conftest import another_sandbox

GENEROUS = Limits(cpu_time=5, wall_time=15)


@pytest.fixture(scope="module")
def cold_sandbox(session_sandbox: NativeSandbox) -> Iterator[NativeSandbox]:
    with another_sandbox(zygotes=False) as sandbox:
        yield sandbox


@pytest.fixture(params=["warm", "cold"])
def sandbox(request, box) -> NativeSandbox:
    if request.param == "warm":
        return box.sandbox
    cold = request.getfixturevalue("cold_sandbox")
    cold.box.reset()
    return cold


def closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def test_stdout_fd_gets_the_output_and_stderr_is_still_captured(sandbox):
    read_end, write_end = os.pipe()
    try:
        r = sandbox.run(RunSpec(("/bin/sh", "-c", "echo out; echo again >/dev/stdout; "
                                 "echo err >&2"), GENEROUS, stdout_fd=write_end))
        assert closed(write_end)  # taken over: the program's end was its only writer
        assert os.read(read_end, 100) == b"out\nagain\n" and os.read(read_end, 100) == b""
    finally:
        os.close(read_end)
    assert (r.outcome, r.stdout, r.stderr) == (Outcome.OK, b"", b"err\n")


def test_stdin_fd_is_read_and_stderr_to_stdout_follows_stdout_fd(sandbox):
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        os.write(stdin_w, b"42\n")
        os.close(stdin_w)
        r = sandbox.run(RunSpec(("/bin/sh", "-c", "read x; echo got $x; echo err >&2; "
                                 "cat /dev/stdin"), GENEROUS, stdin_fd=stdin_r,
                                stdout_fd=out_w, stderr_to_stdout=True))
        assert closed(stdin_r) and closed(out_w)
        assert os.read(out_r, 100) == b"got 42\nerr\n"
    finally:
        os.close(out_r)
    assert (r.outcome, r.stdout, r.stderr) == (Outcome.OK, b"", b"")


def test_a_file_as_stdout_fd_is_bounded_by_the_file_size_limit(sandbox):
    with tempfile.TemporaryFile() as f:
        r = sandbox.run(RunSpec(("/bin/sh", "-c", "exec head -c 3000000 /dev/zero"),
                                Limits(cpu_time=5, wall_time=15, file_size_kb=1024),
                                stdout_fd=os.dup(f.fileno())))
        assert os.fstat(f.fileno()).st_size == 1024 * 1024
    assert (r.outcome, r.signal) == (Outcome.SIGNALED, signal.SIGXFSZ)


def test_the_fds_are_closed_when_the_run_never_starts(sandbox):
    sandbox.box.write("big", b"x" * (3 << 20))  # more than the memory limit leaves room for
    read_end, write_end = os.pipe()
    try:
        r = sandbox.run(RunSpec(("/bin/true",), Limits(memory_kb=2048), stdin_fd=read_end,
                                stdout_fd=write_end))
        assert r.outcome is Outcome.MEMORY_LIMIT
        assert closed(read_end) and closed(write_end)
    finally:
        for fd in (read_end, write_end):
            if not closed(fd):
                os.close(fd)


def test_one_descriptor_may_be_both_stdin_and_stdout(sandbox):
    ours, theirs = socket.socketpair()
    with ours:
        ours.sendall(b"ping\n")
        fd = theirs.detach()
        r = sandbox.run(RunSpec(("/bin/sh", "-c", "read x; echo $x-pong"), GENEROUS,
                                stdin_fd=fd, stdout_fd=fd))
        assert closed(fd) and ours.recv(100) == b"ping-pong\n"
    assert (r.outcome, r.stdout) == (Outcome.OK, b"")
