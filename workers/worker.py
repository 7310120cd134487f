"""`judge worker`: an RQ worker that judges submissions in its own sandbox box.

RQ's default worker forks a work horse per job. Ours does not (SimpleWorker): the job already
isolates untrusted code in the sandbox, and staying in one process keeps the database pool,
the Redis connection, the compiled seccomp filter and the claimed box warm across jobs.
SIGTERM/SIGINT ask RQ for a warm shutdown: the current submission is finished first.

At start-up the worker self-tests the installed languages (in a child process, while it already
takes jobs) and reports in Redis what passed, for as long as it lives (reporter.py); the API
lists exactly those languages.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

import redis
import rq

from judge import logs
from judge.context import WorkerContext
from judge.language_reports import LanguageReports
from judge.retention import Retention

from . import jobs
from .reconciler import Reconciler
from .reporter import LanguageReporter

log = logging.getLogger(__name__)
RETRY_MIN, RETRY_MAX = 0.5, 30.0  # seconds between attempts to reach Redis again


def run_worker(context: WorkerContext | None = None, burst: bool = False) -> None:
    """Claim a box, then take jobs until asked to stop (or, with `burst`, until the queue is
    empty)."""
    context = context or WorkerContext.create()
    logs.bind_process(worker=context.worker_id)  # on every line this process logs
    jobs.install(context)
    name = f"{socket.gethostname()}.{os.getpid()}.box{context.sandbox.box.id}"
    retention = (Retention(context.storage, context.config.submission_retention)
                 if context.config.submission_retention > 0 else None)
    reconciler = Reconciler(context.leases, context.queue, context.config.reconcile_interval,
                            context.config.reconcile_queued_after, jobs.resend_callback,
                            context.config.callbacks_resend_after, retention)
    log.info("worker %s judging queue %r in box %s", name, context.queue.name,
             context.sandbox.box.path)
    reconciler.start()
    reporter = None
    if not burst:  # a burst worker drains the queue and leaves: nothing to report
        reporter = LanguageReporter(LanguageReports(context.queue.redis, context.queue.name),
                                    context.worker_id)
        reporter.start()
    try:
        _work_through_outages(context, name, burst)
    finally:
        if reporter is not None:
            reporter.stop()
        reconciler.stop()
        context.close()


def _work_through_outages(context: WorkerContext, name: str, burst: bool) -> None:
    """RQ's work loop ends with an exception when Redis goes away; the worker waits (with
    back-off) and registers again instead of exiting, so an outage needs no restart. The
    reconciler queues again what was lost with Redis."""
    stopping = threading.Event()
    delay = RETRY_MIN
    while True:
        started = time.monotonic()
        try:  # a fresh registration each time: Redis may have come back empty
            worker = rq.SimpleWorker([context.queue.queue], connection=context.queue.blocking,
                                     name=f"{name}.{int(time.time())}")
            worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
            return  # asked to stop, or the burst is over
        except redis.exceptions.RedisError as e:
            if time.monotonic() - started > RETRY_MAX:
                delay = RETRY_MIN  # it had been working: a new outage starts the back-off over
            log.warning("the queue is unavailable (%s); trying again in %.0f s", e, delay)
        for signum in (signal.SIGINT, signal.SIGTERM):  # RQ's handlers left with its loop
            signal.signal(signum, lambda *_: stopping.set())
        if stopping.wait(delay):
            return
        delay = min(delay * 2, RETRY_MAX)
