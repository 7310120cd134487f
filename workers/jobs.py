"""The RQ job: judge one submission, identified by its token.

The worker process keeps one `Judging` (its context: configuration, database pool, queue,
languages and its claimed sandbox box; its callback sender, metrics and lease renewer) for all
the jobs it runs; the work loop (loop.py) runs jobs in-process, so nothing is re-created per
job. RQ's own worker (`rq worker`) can run the same jobs: `judge_submission` then builds the
process's `Judging` from the environment's configuration on its first job.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import threading
import time
import traceback
from collections.abc import Iterator

import redis

from judge import events, logs, redis_scripts
from judge.callbacks import CallbackSender
from judge.config import Config
from judge.context import WorkerContext
from judge.contract.languages import Language
from judge.judging.verdict import internal_error
from judge.metrics import Recorder, Tally
from judge.store.leases import Leases

log = logging.getLogger(__name__)


class Judging:
    """What a worker process needs to judge submissions, one after another."""

    def __init__(self, context: WorkerContext):
        self.ctx = context
        self.metrics = Recorder(context.queue.redis)
        self.tally = Tally()  # the metrics of the last submissions, not yet in Redis
        self.renewer = LeaseRenewer(context.leases, context.worker_id)
        self.callbacks = CallbackSender(context.config, context.languages, self.metrics)

    def close(self) -> None:
        """After the work loop: what was counted and queued callbacks are delivered, then
        connections close."""
        self.idle()
        self.callbacks.close()
        self.ctx.close()

    def idle(self) -> None:
        """No submission waits: what was counted goes to Redis now."""
        try:
            self.tally.send(self.ctx.queue.redis)
        except redis.exceptions.RedisError as e:
            log.warning("metrics not recorded: %s", e)

    def resend_callback(self, token: str, url: str) -> None:
        """For the reconciler: deliver a callback a dead worker left pending."""
        self.callbacks.submit(token, url)

    def prepare_next(self) -> None:
        """The next submission's box and warm sandbox, made ready after this one's verdict is
        out rather than on the next one's clock."""
        self.ctx.sandbox.prepare()

    def judge(self, token: str, signals: redis.client.Pipeline, announced: bool = True
              ) -> None:
        """Judge one submission. Its completion signal and metrics go into `signals`, a Redis
        pipeline the worker's loop sends right after this returns, with its own bookkeeping,
        in one round trip. Its Processing event is sent once it is claimed unless
        `announced` (the work loop's TAKE added it when it took the job)."""
        with logs.bind(token=token):  # every line logged while judging it names the submission
            self._judge(token, signals, announced)

    def _judge(self, token: str, signals: redis.client.Pipeline, announced: bool) -> None:
        ctx = self.ctx
        row = ctx.leases.claim(token, ctx.config.hostname, ctx.worker_id)
        if row is None:
            log.info("submission %s is final, gone or judged by a live worker; skipped", token)
            return
        started = time.monotonic()
        if not announced:
            self._announce(token, events.STATUS, {"status_id": int(row["status_id"])})
        try:
            with self.renewer.holding(token):
                language = ctx.languages.get(row["language_id"])
                if language is None:
                    raise LookupError(f"language with id {row['language_id']} doesn't exist")
                values = self._judged(token, row, language)
        except Exception as e:  # noqa: BLE001 - every failure becomes status 13, never a stuck submission
            log.error("judging %s failed:\n%s", token, traceback.format_exc())
            values = internal_error(f"{type(e).__name__}: {e}")
        callback_url = row.get("callback_url")
        if callback_url and ctx.config.callbacks_max_tries > 0:
            values = {**values, "callback_status": "pending"}
        if not ctx.storage.finish_submission(token, values):
            return  # another worker stored the verdict first, and sent its callback
        # first in the pipeline: a client may be waiting
        events.final(signals, token, int(values["status_id"]))
        log.info("judged: status %s", int(values["status_id"]),
                 extra={"status_id": int(values["status_id"]),
                        "language_id": row["language_id"]})
        self.metrics.judged(values, time.monotonic() - started, ctx.pipeline.compile_seconds,
                            pipe=self.tally)
        if self.tally.due():
            self.tally.flush(signals)
        if callback_url:  # every final status, Internal Error included
            self.callbacks.submit(token, callback_url)


    def _judged(self, token: str, row: dict, language: Language) -> dict:
        """The verdict's columns: a Judge0 submission's, or a problem's case by case."""
        if row.get("problem") is not None:
            return self.ctx.problems.judge(
                row, language, lambda kind, data: self._announce(token, kind, data))
        return self.ctx.pipeline.judge(row, language, lambda cached: self._announce(
            token, events.COMPILED, {"cached": cached}))

    def _announce(self, token: str, kind: str, data: dict) -> None:
        """A live event sent now; a queue outage costs the event, never the submission."""
        try:
            events.send(self.ctx.queue.redis, token, kind, data)
        except redis.exceptions.RedisError as e:
            log.warning("live event %s of %s not sent: %s", kind, token, e)


_rq_judging: Judging | None = None  # only under RQ's own worker, which knows no Judging


def judge_submission(token: str) -> None:
    """The job function the API enqueues (judge/queue.py: JOB_FUNCTION), for RQ's own worker.
    Our work loop calls `Judging.judge` instead."""
    global _rq_judging
    if _rq_judging is None:
        _rq_judging = Judging(WorkerContext.create(Config.load()))
        atexit.register(_rq_judging.close)
    client = _rq_judging.ctx.queue.redis
    with client.pipeline() as signals:
        try:
            _rq_judging.judge(token, signals, announced=False)
            _rq_judging.tally.flush(signals)
            redis_scripts.raise_errors(redis_scripts.execute(client, signals))
        finally:
            _rq_judging.prepare_next()


class LeaseRenewer:
    """Renews the worker's lease on the submission it is judging, so that only a worker that
    died loses it: one thread for the worker's life (a thread per job cost ~0.15 ms of CPU
    and a wake-up on every job's path), renewing every third of the lease."""

    def __init__(self, leases: Leases, worker_id: str):
        self.leases, self.worker_id = leases, worker_id
        self._lock = threading.Lock()
        self._held: tuple[str, contextvars.Context] | None = None
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def holding(self, token: str) -> Iterator[None]:
        # the job's context goes with the token, so that the renewal's log lines name it too
        with self._lock:
            self._held = (token, contextvars.copy_context())
            if self._thread is None:
                self._thread = threading.Thread(target=self._renew, name="lease", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held = None

    def _renew(self) -> None:
        while True:
            time.sleep(self.leases.seconds / 3)
            with self._lock:
                held = self._held
            if held is not None:
                held[1].run(self._renew_one, held[0])

    def _renew_one(self, token: str) -> None:
        try:
            renewed = self.leases.renew(token, self.worker_id)
        except Exception as e:  # noqa: BLE001 - the database is down: keep trying while judging
            log.warning("cannot renew the lease on %s: %s", token, e)
            return
        with self._lock:
            if not renewed and self._held is not None and self._held[0] == token:
                log.warning("lost the lease on %s", token)
                self._held = None  # another worker judges it now; stop renewing
