"""The 14 Judge0 submission statuses (§6.1): ids and descriptions are part of the API."""

from __future__ import annotations

import signal
from enum import IntEnum

__all__ = ["Status", "as_json", "for_signal", "is_final"]


class Status(IntEnum):
    """A submission status; the integer value is the Judge0 ``status_id``."""

    IN_QUEUE = 1
    PROCESSING = 2
    ACCEPTED = 3
    WRONG_ANSWER = 4
    TIME_LIMIT_EXCEEDED = 5
    COMPILATION_ERROR = 6
    RUNTIME_ERROR_SIGSEGV = 7
    RUNTIME_ERROR_SIGXFSZ = 8
    RUNTIME_ERROR_SIGFPE = 9
    RUNTIME_ERROR_SIGABRT = 10
    RUNTIME_ERROR_NZEC = 11
    RUNTIME_ERROR_OTHER = 12
    INTERNAL_ERROR = 13
    EXEC_FORMAT_ERROR = 14

    @property
    def description(self) -> str:
        """The exact Judge0 description, e.g. ``Runtime Error (NZEC)``."""
        return _DESCRIPTIONS[self]

    def as_json(self) -> dict[str, int | str]:
        """``{"id": 3, "description": "Accepted"}``, the shape used in submissions and /statuses."""
        return {"id": int(self), "description": self.description}


_DESCRIPTIONS: dict[Status, str] = {
    Status.IN_QUEUE: "In Queue",
    Status.PROCESSING: "Processing",
    Status.ACCEPTED: "Accepted",
    Status.WRONG_ANSWER: "Wrong Answer",
    Status.TIME_LIMIT_EXCEEDED: "Time Limit Exceeded",
    Status.COMPILATION_ERROR: "Compilation Error",
    Status.RUNTIME_ERROR_SIGSEGV: "Runtime Error (SIGSEGV)",
    Status.RUNTIME_ERROR_SIGXFSZ: "Runtime Error (SIGXFSZ)",
    Status.RUNTIME_ERROR_SIGFPE: "Runtime Error (SIGFPE)",
    Status.RUNTIME_ERROR_SIGABRT: "Runtime Error (SIGABRT)",
    Status.RUNTIME_ERROR_NZEC: "Runtime Error (NZEC)",
    Status.RUNTIME_ERROR_OTHER: "Runtime Error (Other)",
    Status.INTERNAL_ERROR: "Internal Error",
    Status.EXEC_FORMAT_ERROR: "Exec Format Error",
}

# Judge0 hard-codes 11, 25, 8 and 6 (x86 Linux); the signal module yields the same numbers there
# and the host's own numbers elsewhere, which is what the sandbox reports.
_SIGNAL_STATUSES: dict[int, Status] = {
    signal.SIGSEGV: Status.RUNTIME_ERROR_SIGSEGV,
    signal.SIGXFSZ: Status.RUNTIME_ERROR_SIGXFSZ,
    signal.SIGFPE: Status.RUNTIME_ERROR_SIGFPE,
    signal.SIGABRT: Status.RUNTIME_ERROR_SIGABRT,
}


def as_json() -> list[dict[str, int | str]]:
    """The body of ``GET /statuses``: all 14 statuses in id order."""
    return [status.as_json() for status in Status]


def for_signal(sig: int | None) -> Status:
    """Status for a run killed by signal ``sig``: 11→7, 25→8, 8→9, 6→10, anything else
    (including an unknown signal, None) → 12 ``Runtime Error (Other)``."""
    if sig is None:
        return Status.RUNTIME_ERROR_OTHER
    return _SIGNAL_STATUSES.get(int(sig), Status.RUNTIME_ERROR_OTHER)


def is_final(status_id: int | None) -> bool:
    """True once a submission has left the queue for good (any status from 3 to 14).

    Waiters poll on this; None (a row being created) counts as not final, as in Judge0.
    """
    return status_id is not None and Status.ACCEPTED <= status_id <= Status.EXEC_FORMAT_ERROR
