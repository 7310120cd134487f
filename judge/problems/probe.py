"""Compiling a problem's custom checker and interactor when the problem is created, through
the fleet: an ordinary submission each (the source, its language, the problem's files as
additional_files), accepted and waited for like `wait=true`.

A checker that does not compile is the author's mistake, told at once (a 422 quoting the
compiler), not at every submission's judging. The probe also fills the compile cache, which
the workers hit when they compile the same source with the same files (files.py builds the
zip deterministically). The probes are deleted once final: they are not the clients'.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from judge.context import ApiContext
from judge.contract.statuses import Status
from judge.contract.submission import rules
from judge.intake import accept_waiting, queue_is_full
from judge.problems.draft import ProblemDraft, TestFile
from judge.problems.files import files_zip

MAX_QUOTED = 8192  # characters of compiler output in the 422


class ProbeUnavailable(RuntimeError):
    """No verdict in time (no worker, a full queue): a 503, try again later."""


def programs(draft: ProblemDraft) -> dict[str, Mapping[str, Any]]:
    """What the draft has to compile: its custom checker, its interactor."""
    found: dict[str, Mapping[str, Any]] = {}
    if draft.checker["type"] == "custom":
        found["checker"] = draft.checker
    if draft.interactor is not None:
        found["interactor"] = draft.interactor
    return found


async def compile_errors(ctx: ApiContext, draft: ProblemDraft) -> rules.Errors:
    """The 422 body if the checker or the interactor cannot be compiled (or cannot be
    submitted: an unknown language...), else {}; ProbeUnavailable without a verdict within
    WAIT_RESULT_TIMEOUT."""
    wanted = programs(draft)
    if not wanted:
        return {}
    zipped = files_zip({name: _read(file) for name, file in draft.files.items()})
    batch, errors = [], {}
    for role, program in wanted.items():
        attrs, found = rules.parse_create(_submission(program, zipped, ctx), True, ctx.config,
                                          ctx.languages)
        for name, messages in found.items():
            key = "files" if name == "additional_files" else f"{role}.{name}"
            errors.setdefault(key, []).extend(messages)
        batch.append(attrs)
    if errors:
        return errors
    if await queue_is_full(ctx, len(batch)):
        raise ProbeUnavailable("queue is full: the checker cannot be compiled now, "
                               "try again later")
    tokens = await accept_waiting(ctx, batch)
    rows = await ctx.storage.get_many(tokens)
    pending = []
    for role, row in zip(wanted, rows, strict=True):
        status = row["status_id"] if row else Status.IN_QUEUE
        if status in (Status.IN_QUEUE, Status.PROCESSING):
            pending.append(role)
        elif status == Status.COMPILATION_ERROR:
            output = (row["compile_output"] or b"").decode("utf-8", errors="replace")
            if len(output) > MAX_QUOTED:
                output = output[:MAX_QUOTED] + "… (cut)"
            errors[role] = [f"does not compile: {output}"]
    for token in tokens:
        await ctx.storage.delete_submission(token)  # only the finished ones go
    if pending:
        raise ProbeUnavailable(
            f"the {' and the '.join(pending)} could not be compiled: no worker judged "
            f"it within WAIT_RESULT_TIMEOUT ({ctx.config.wait_timeout:g} s); try again "
            "when workers are running")
    return errors


def _submission(program: Mapping[str, Any], zipped: bytes | None,
                ctx: ApiContext) -> dict[str, Any]:
    """The probe's create request (base64): compiled, then run once with nothing to do."""
    body: dict[str, Any] = {
        "source_code": program["source_code"], "language_id": program["language_id"],
        "cpu_time_limit": min(1.0, ctx.config.max_cpu_time_limit),
        "wall_time_limit": min(2.0, ctx.config.max_wall_time_limit)}
    if zipped is not None:
        body["additional_files"] = base64.b64encode(zipped).decode("ascii")
    return body


def _read(file: TestFile) -> bytes:
    """A problem file's bytes: they come inline in the request, so they are small."""
    with file.open() as stream:
        return stream.read()
