"""Interactive runs: the contestant's program and the problem's interactor talk through two
pipes, each side a whole sandboxed run of its own.

    program stdout  --pipe-->  interactor stdin
    program stdin   <--pipe--  interactor stdout

Two sandboxes, not one: each side has its own box, uid, cgroup and limits, so the program can
never reach the interactor's files (the secret it plays against, the expected answer) nor
signal, trace or starve it. Both run at the same time, one sandbox run per thread.

What ends what:
- A side exits: its whole run is killed (its cgroup), which closes the last copies of its pipe
  ends, so the other side reads EOF, or gets EPIPE (SIGPIPE) when it writes. The worker holds
  no copy that would keep a pipe open: a sandbox closes the descriptors a RunSpec hands it
  (stdin_fd, stdout_fd) as soon as its program holds them.
- A deadlock (both sides waiting to read), or a side that stops reading while the other
  writes (a full pipe blocks its writer), ends at the sides' wall-clock limits; a side that
  spins ends at its CPU limit. Nothing written into the pipes is captured, so a flood costs
  no memory: a pipe holds at most its buffer (64 KiB), and the peer decides how much it reads.
- Both stderrs are captured under their output caps (the interactor's is its message).

The verdict is the caller's. The usual rule: the program's own time, memory or runtime
failure first, then the interactor's exit code (testlib's: 0 OK, 1 wrong answer,
2 presentation error, 3 judge failure, anything else a failure of the interactor). A program
killed by SIGPIPE, or failing on EPIPE, after the interactor had ended is the consequence of
the interactor's verdict rather than a crash of its own: judge it by the interactor's.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from judge.sandbox import RunResult, RunSpec, Sandbox

# The interactor runs in one of these threads, the program in the caller's. They live as long
# as the process: a sandbox's processes die with the thread that forked them
# (PR_SET_PDEATHSIG), and an interactor's warm session may be started here and must outlive
# this call. The caller's thread must be long-lived for the same reason (a worker's is).
_PEERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="judge-interactor")


def interact(program: Sandbox, program_spec: RunSpec, interactor: Sandbox,
             interactor_spec: RunSpec) -> tuple[RunResult, RunResult]:
    """Run both at once, the program's stdout into the interactor's stdin and back, each in
    its own sandbox (box, uid, cgroup, limits); both results once both ended. When one ends,
    the other sees EOF/EPIPE; the wall-clock limits end a deadlock. The pipes are both
    sides' stdin and stdout, in place of the specs' own stdin (their stderr is captured)."""
    if program is interactor:
        raise ValueError("the program and the interactor need a sandbox each")
    if program_spec.given_fds() or interactor_spec.given_fds():
        raise ValueError("interact() connects stdin and stdout itself")
    to_interactor = os.pipe()  # (read end, write end)
    try:
        to_program = os.pipe()
    except BaseException:
        _close(*to_interactor)
        raise
    program_spec = replace(program_spec, stdin=None, stdin_fd=to_program[0],
                           stdout_fd=to_interactor[1])
    interactor_spec = replace(interactor_spec, stdin=None, stdin_fd=to_interactor[0],
                              stdout_fd=to_program[1])
    try:
        peer = _PEERS.submit(interactor.run, interactor_spec)
    except BaseException:
        _close(*to_interactor, *to_program)
        raise
    try:
        program_result = program.run(program_spec)  # from here each run owns its two ends
    finally:
        interactor_result = peer.result()  # ends by EOF at the latest once the program has
    return program_result, interactor_result


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)
