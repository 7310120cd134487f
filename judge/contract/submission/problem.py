"""A submission of a problem (beyond Judge0): `problem` names a stored problem whose test
cases are the input and the answers (docs/problems.md).

The submission keeps every Judge0 attribute and rule; the problem adds its own: its limits
replace the configured defaults (a client's own values still win, under the same MAX_*
bounds), and `stdin` / `expected_output` cannot be given, the test cases being both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from judge.config import Config

__all__ = ["LIMITS", "parameters", "with_problem_limits", "case_input_errors"]

Errors = dict[str, list[str]]

# A problem's limits: the submission attributes whose default it sets.
LIMITS = ("cpu_time_limit", "cpu_extra_time", "wall_time_limit", "memory_limit",
          "stack_limit", "max_processes_and_or_threads", "max_file_size",
          "enable_per_process_and_thread_time_limit",
          "enable_per_process_and_thread_memory_limit")
_TRUE, _FALSE = (True, 1, "1", "true"), (False, 0, "0", "false", None, "")


def parameters(body: Mapping[str, Any]) -> tuple[str | None, bool, Errors]:
    """(`problem`'s slug or None, `run_all_test_cases`, errors) from a create request."""
    errors: Errors = {}
    slug = body.get("problem")
    if slug in (None, ""):
        slug = None
    elif not isinstance(slug, str):
        errors["problem"] = ["must be the slug of a problem"]
        slug = None
    run_all = body.get("run_all_test_cases")
    if run_all not in _TRUE + _FALSE:
        errors["run_all_test_cases"] = ["must be true or false"]
    elif run_all not in _FALSE and slug is None and "problem" not in errors:
        errors["run_all_test_cases"] = ["is only for a submission of a problem"]
    return slug, run_all in _TRUE, errors


def with_problem_limits(config: Config, limits: Mapping[str, Any]) -> Config:
    """`config` whose default limits are the problem's (its MAX_* bounds unchanged)."""
    return dataclasses.replace(config, **{name: limits[name] for name in LIMITS
                                          if limits.get(name) is not None})


def case_input_errors(body: Mapping[str, Any]) -> Errors:
    """A problem's submission carries no input of its own (`body`: the request)."""
    return {name: ["cannot be given with a problem: its test cases are the input and the "
                   "answers"]
            for name in ("stdin", "expected_output") if body.get(name) not in (None, "")}
