"""Deciding verdicts: Judge0's ``expected_output`` comparison (§6.5), a run's status, exit code,
signal and message from what the sandbox saw, and the submission's final values over its runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from judge.contract.statuses import Status, for_signal
from judge.sandbox import Outcome, RunResult

__all__ = ["RunOutcome", "compilation_error", "final_values", "internal_error", "judge_run",
           "normalize_output", "outputs_match", "seconds"]

MILLI = Decimal("0.001")

# Ruby's rstrip: whitespace and NUL.
_TRAILING_BLANKS = b" \t\n\v\f\r\0"


def normalize_output(output: bytes) -> bytes:
    """Judge0's normalisation before comparing: strip trailing whitespace (and NUL) from every
    line, rejoin with ``\\n``, strip trailing whitespace from the whole. Leading whitespace and
    leading blank lines stay significant; ``\\r\\n`` endings are tolerated."""
    lines = output.split(b"\n")
    return b"\n".join(line.rstrip(_TRAILING_BLANKS) for line in lines).rstrip(_TRAILING_BLANKS)


def outputs_match(expected: bytes | None, stdout: bytes | None) -> bool:
    """True if the run is Accepted as far as output goes.

    No expected output means no comparison. A program that printed nothing has a null
    ``stdout`` (Judge0 stores empty output as null, and so is ``b""`` treated here), which
    never equals an expected output, not even ``""``: Judge0 gives Wrong Answer there.
    """
    if expected is None:
        return True
    if not stdout:
        return False
    return normalize_output(expected) == normalize_output(stdout)


@dataclass
class RunOutcome:
    """The judged result of one run."""

    status: Status
    result: RunResult
    exit_code: int | None
    exit_signal: int | None
    message: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def seconds(value: float) -> Decimal:
    """Isolate reports times in milliseconds; so do we."""
    return Decimal(str(value)).quantize(MILLI, rounding=ROUND_HALF_UP)


def judge_run(result: RunResult, expected_output: bytes | None) -> RunOutcome:
    """Map a sandbox result to a Judge0 status, exit code, signal and message."""
    outcome = result.outcome
    if outcome is Outcome.OK:
        accepted = expected_output is None or outputs_match(expected_output, result.stdout or None)
        status = Status.ACCEPTED if accepted else Status.WRONG_ANSWER
        return RunOutcome(status, result, 0, None, None)
    if outcome is Outcome.NONZERO_EXIT:
        return RunOutcome(Status.RUNTIME_ERROR_NZEC, result, result.exit_code, None, result.message)
    if outcome is Outcome.SIGNALED:
        return RunOutcome(for_signal(result.signal), result, 0, result.signal,
                          result.message)
    if outcome in (Outcome.TIME_LIMIT_CPU, Outcome.TIME_LIMIT_WALL):
        return RunOutcome(Status.TIME_LIMIT_EXCEEDED, result, 0, None, result.message)
    if outcome is Outcome.MEMORY_LIMIT:
        return RunOutcome(Status.RUNTIME_ERROR_OTHER, result, 0, 9, "Memory limit exceeded")
    if outcome is Outcome.OUTPUT_LIMIT:
        return RunOutcome(Status.RUNTIME_ERROR_SIGXFSZ, result, 0, 25, "Output limit exceeded")
    return RunOutcome(Status.INTERNAL_ERROR, result, None, None, result.message)


def final_values(outcomes: list[RunOutcome], compile_output: bytes | None) -> dict[str, Any]:
    """Judge0's aggregation: mean time, truncated mean memory, everything else from the last
    executed run."""
    last = outcomes[-1]
    times = [seconds(o.result.cpu_time) for o in outcomes]
    memory = sum(o.result.memory_kb for o in outcomes) // len(outcomes)
    return {
        "status_id": last.status,
        "compile_output": compile_output,
        "stdout": last.result.stdout or None,
        "stderr": last.result.stderr or None,
        "time": sum(times) / len(times),
        "wall_time": seconds(last.result.wall_time),
        "memory": memory,
        "exit_code": last.exit_code,
        "exit_signal": last.exit_signal,
        "message": last.message,
        "finished_at": _now(),
    }


def compilation_error(compile_output: bytes | None) -> dict[str, Any]:
    """The final values of a submission whose compilation failed (status 6)."""
    return {"status_id": Status.COMPILATION_ERROR, "compile_output": compile_output,
            "stdout": None, "stderr": None, "time": None, "wall_time": None, "memory": None,
            "exit_code": None, "exit_signal": None, "message": None, "finished_at": _now()}


def internal_error(message: str) -> dict[str, Any]:
    """The final values of a submission whose judging failed (status 13)."""
    return {"status_id": Status.INTERNAL_ERROR, "message": message, "finished_at": _now()}
