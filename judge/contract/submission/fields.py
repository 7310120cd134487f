"""The submission resource as Judge0 defines it: its attributes, which of them a client may set,
the ``fields`` parameter and the ``base64_encoded`` flag (§4.1, §5.1, §5.2).

Validation of a new submission lives in `rules` and output shaping in `render`, beside this
module; both build on these names, and this module imports neither.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from judge.config import Config

__all__ = [
    "ATTRIBUTES",
    "ALL_ATTRIBUTES",
    "MASTER_ONLY_ATTRIBUTES",
    "PROBLEM_ATTRIBUTES",
    "Selection",
    "select_fields",
    "STORED_ATTRIBUTES",
    "VIRTUAL_ATTRIBUTES",
    "PERMITTED",
    "DEFAULT_FIELDS",
    "TEXT_ATTRIBUTES",
    "DECIMAL_ATTRIBUTES",
    "TIMESTAMP_ATTRIBUTES",
    "effective_base64",
    "parse_fields",
    "parse_token",
]

# Every attribute in Judge0's serializer order (master: 40). Output objects always follow this
# order, whatever order ``fields`` named them in. The last two are virtual.
ATTRIBUTES: tuple[str, ...] = (
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "started_at",
    "queued_at",
    "updated_at",
    "queue_host",
    "execution_host",
    "status",
    "language",
)
# Beyond Judge0: a submission of a problem (judge/contract/submission/problem.py). `fields=*`
# includes them for problem submissions only, so that a Judge0 client asking for `*` gets
# exactly Judge0's keys.
PROBLEM_ATTRIBUTES = ("problem", "run_all_test_cases", "test_cases", "passed_test_cases",
                      "total_test_cases", "score")
# What a submission may render, in output order.
ALL_ATTRIBUTES = ATTRIBUTES + PROBLEM_ATTRIBUTES

# Computed on output, never stored.
VIRTUAL_ATTRIBUTES = ("status", "language")
STORED_ATTRIBUTES = tuple(name for name in ALL_ATTRIBUTES if name not in VIRTUAL_ATTRIBUTES)
# Attributes Judge0 master added after the 1.13.1 release (`fields=*` leaves them out unless
# MASTER_STAR_FIELDS=true).
MASTER_ONLY_ATTRIBUTES = frozenset(
    {"started_at", "queued_at", "updated_at", "queue_host", "execution_host"})


# The 20 keys a client may set; anything else in a request body is ignored.
PERMITTED: tuple[str, ...] = (
    "source_code", "language_id", "compiler_options", "command_line_arguments", "number_of_runs",
    "stdin", "expected_output", "cpu_time_limit", "cpu_extra_time", "wall_time_limit",
    "memory_limit", "stack_limit", "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
    "max_file_size", "redirect_stderr_to_stdout", "callback_url", "additional_files",
    "enable_network",
)

# What a response carries when ``fields`` is absent or empty (rendered in ATTRIBUTES order:
# stdout, time, memory, stderr, token, compile_output, message, status).
DEFAULT_FIELDS: tuple[str, ...] = (
    "token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status",
)

# Byte strings that base64_encoded governs on output; in plain mode they must be ASCII (§5.3).
TEXT_ATTRIBUTES = frozenset(
    {"source_code", "stdin", "expected_output", "stdout", "stderr", "compile_output"})
# Decimal columns, rendered as strings such as "0.002".
DECIMAL_ATTRIBUTES = frozenset(
    {"time", "wall_time", "cpu_time_limit", "cpu_extra_time", "wall_time_limit", "score"})
TIMESTAMP_ATTRIBUTES = frozenset(
    {"created_at", "finished_at", "started_at", "queued_at", "updated_at"})

_ALL_FIELDS = "*"


def effective_base64(query_value: Any, config: Config) -> bool:
    """The request's effective ``base64_encoded`` flag (§5.2).

    Judge0 compares exact strings: with ``DISABLE_IMPLICIT_BASE64_ENCODING`` (our default, the
    released v1.13.1 behaviour) only ``"true"`` turns base64 on; without it (Judge0 master)
    anything but ``"false"`` does, including an absent parameter and a JSON ``true``.
    """
    if config.disable_implicit_base64_encoding:
        return query_value == "true"
    return query_value != "false"


def parse_fields(raw: str | None) -> list[str] | str:
    """The attributes selected by a ``fields`` parameter, in output order, or the error text.

    The value is split on ``,`` without trimming, like Ruby's ``split`` (trailing empty items
    dropped), so ``"stdout, time"`` asks for ``" time"`` and is refused with
    ``invalid fields: [ time]``. ``*`` selects everything; absent or empty gives the defaults.
    """
    names = (raw or "").split(",")
    while names and names[-1] == "":
        names.pop()
    invalid = [name for name in names if name != _ALL_FIELDS and name not in ALL_ATTRIBUTES]
    if invalid:
        return f"invalid fields: [{', '.join(invalid)}]"
    if _ALL_FIELDS in names:
        return list(ALL_ATTRIBUTES)
    wanted = set(names) or set(DEFAULT_FIELDS)
    return [name for name in ALL_ATTRIBUTES if name in wanted]


class Selection(list):
    """Attribute names from `select_fields`; `star`: they came from `*`, so the problem
    attributes are rendered only for a problem submission."""

    star = False


def select_fields(raw: Any, master_star: bool) -> Selection | str:
    """The `fields` parameter as an endpoint applies it, or the error text: `*` means the
    released 1.13.1's attributes unless `master_star` (MASTER_STAR_FIELDS=true), and the
    problem attributes where a submission has them; named attributes are always given."""
    raw = raw if isinstance(raw, str) else None
    parsed = parse_fields(raw)
    if isinstance(parsed, str):
        return parsed
    names = (raw or "").split(",")
    selection = Selection(parsed)
    if "*" in names:
        selection = Selection(name for name in parsed if master_star or name in names
                              or name not in MASTER_ONLY_ATTRIBUTES)
        selection.star = not any(name in names for name in PROBLEM_ATTRIBUTES)
    return selection


def parse_token(value: str | uuid.UUID | None) -> uuid.UUID | None:
    """The UUID a token names, or None for anything that is not a token (never found).

    Only the canonical lowercase form counts: Judge0 matches tokens as strings, so
    ``" <token>"``, upper case or ``urn:uuid:<token>`` find nothing there either.
    """
    if isinstance(value, uuid.UUID):
        return value
    try:
        parsed = uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and str(parsed) == value else None
