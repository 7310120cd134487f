"""How a run ended, read from its exit status, the limit the supervisor killed it for and the
cgroup's OOM counter; shared by both backends."""

from __future__ import annotations

import signal

from .spec import Limits, Outcome, RunResult


def decide(result: RunResult, returncode: int, killed: Outcome | None, oom_kills: int,
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
    result.message = MESSAGES.get(result.outcome, "").format(
        code=result.exit_code, signal=result.signal) or None


MESSAGES = {
    Outcome.NONZERO_EXIT: "Exited with error status {code}",
    Outcome.SIGNALED: "Caught fatal signal {signal}",
    Outcome.TIME_LIMIT_CPU: "Time limit exceeded",
    Outcome.TIME_LIMIT_WALL: "Time limit exceeded (wall clock)",
    Outcome.MEMORY_LIMIT: "Memory limit exceeded",
    Outcome.OUTPUT_LIMIT: "Output limit exceeded",
}
