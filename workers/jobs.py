"""The RQ job: judge one submission, identified by its token.

The worker process keeps one `Context` (configuration, database pool, queue, languages and
its claimed sandbox box) for all the jobs it runs; RQ's SimpleWorker runs jobs in-process, so
nothing is re-created per job.
"""

from __future__ import annotations

import logging
import traceback

from judge.context import WorkerContext
from judge.pipeline import internal_error

log = logging.getLogger(__name__)
_context: WorkerContext | None = None


def install(context: WorkerContext) -> None:
    """Called by the worker entry point before it starts taking jobs."""
    global _context
    _context = context


def context() -> WorkerContext:
    global _context
    if _context is None:  # a job run outside `judge worker` (e.g. rq's own CLI)
        _context = WorkerContext.create()
    return _context


def judge_submission(token: str) -> None:
    ctx = context()
    row = ctx.storage.mark_processing(token, ctx.config.hostname)
    if row is None:
        log.info("submission %s is already final or gone; nothing to do", token)
        return
    try:
        language = ctx.languages.get(row["language_id"])
        if language is None:
            raise LookupError(f"language with id {row['language_id']} doesn't exist")
        values = ctx.pipeline.judge(row, language)
    except Exception as e:  # every failure becomes status 13, never a stuck submission
        log.error("judging %s failed:\n%s", token, traceback.format_exc())
        values = internal_error(f"{type(e).__name__}: {e}")
    ctx.storage.finish_submission(token, values)
    ctx.queue.notify_done(token)
