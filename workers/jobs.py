"""The RQ job: judge one submission, identified by its token.

The worker process keeps one `Context` (configuration, database pool, queue, languages and
its claimed sandbox box) for all the jobs it runs; the work loop (loop.py) runs jobs
in-process, so nothing is re-created per job.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import threading
import time
import traceback

import redis

from judge import logs
from judge.callbacks import CallbackSender
from judge.context import WorkerContext
from judge.leases import Leases
from judge.metrics import Recorder
from judge.pipeline import internal_error

log = logging.getLogger(__name__)
_context: WorkerContext | None = None
_callbacks: CallbackSender | None = None
_metrics: Recorder | None = None


def install(context: WorkerContext) -> None:
    """Called by the worker entry point before it starts taking jobs."""
    global _context, _callbacks, _metrics
    _context = context
    _metrics = Recorder(context.queue.redis)
    if _callbacks is None:
        _callbacks = CallbackSender(context.config, context.languages, _metrics)
        # After the work loop ends (a graceful shutdown), the interpreter waits for the pool's
        # threads, so queued callbacks are delivered; then this closes its connections.
        atexit.register(_callbacks.close)


def resend_callback(token: str, url: str) -> None:
    """For the reconciler: deliver a callback a dead worker left pending."""
    if _callbacks is not None:
        _callbacks.submit(token, url)


def context() -> WorkerContext:
    global _context
    if _context is None:  # a job run outside `judge worker` (e.g. rq's own CLI)
        install(WorkerContext.create())
    return _context


class LeaseKeeper:
    """Renews the worker's lease on a submission while it is being judged (a thread), so
    that only a worker that died loses it."""

    def __init__(self, leases: Leases, token: str, worker_id: str):
        self.leases, self.token, self.worker_id = leases, token, worker_id
        self._done = threading.Event()
        # in a copy of the job's context, so that its log lines carry the token too
        self._thread = threading.Thread(target=contextvars.copy_context().run,
                                        args=(self._renew,), name="lease", daemon=True)

    def _renew(self) -> None:
        while not self._done.wait(self.leases.seconds / 3):
            try:
                if not self.leases.renew(self.token, self.worker_id):
                    log.warning("lost the lease on %s", self.token)
                    return
            except Exception as e:  # the database is down: keep trying while judging
                log.warning("cannot renew the lease on %s: %s", self.token, e)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def judge_submission(token: str, signals: redis.client.Pipeline | None = None) -> None:
    """Judge one submission. Its completion signal and metrics go into `signals`, a Redis
    pipeline the worker's loop sends right after this returns, with its own bookkeeping, in
    one round trip; called without one (RQ's own worker), it sends them itself and readies
    the sandbox for the next submission."""
    if signals is None:
        with context().queue.redis.pipeline() as own:
            try:
                judge_submission(token, own)
                own.execute()
            finally:
                prepare_next()
        return
    with logs.bind(token=token):  # every line logged while judging it names the submission
        _judge(token, signals)


def prepare_next() -> None:
    """The next submission's box and warm sandbox, made ready after this one's verdict is
    out rather than on the next one's clock."""
    context().sandbox.prepare()


def _judge(token: str, signals: redis.client.Pipeline) -> None:
    ctx = context()
    row = ctx.leases.claim(token, ctx.config.hostname, ctx.worker_id)
    if row is None:
        log.info("submission %s is final, gone or judged by a live worker; skipped", token)
        return
    started = time.monotonic()
    try:
        with LeaseKeeper(ctx.leases, token, ctx.worker_id):
            language = ctx.languages.get(row["language_id"])
            if language is None:
                raise LookupError(f"language with id {row['language_id']} doesn't exist")
            values = ctx.pipeline.judge(row, language)
    except Exception as e:  # every failure becomes status 13, never a stuck submission
        log.error("judging %s failed:\n%s", token, traceback.format_exc())
        values = internal_error(f"{type(e).__name__}: {e}")
    callback_url = row.get("callback_url")
    if callback_url and ctx.config.callbacks_max_tries > 0:
        values = {**values, "callback_status": "pending"}
    if not ctx.storage.finish_submission(token, values):
        return  # another worker stored the verdict first, and sent its callback
    ctx.queue.notify_done(token, signals)  # first in the pipeline: a client may be waiting
    log.info("judged: status %s", int(values["status_id"]),
             extra={"status_id": int(values["status_id"]), "language_id": row["language_id"]})
    if _metrics is not None:
        _metrics.judged(values, time.monotonic() - started, ctx.pipeline.compile_seconds,
                        pipe=signals)
    if callback_url and _callbacks is not None:  # every final status, Internal Error included
        _callbacks.submit(token, callback_url)
