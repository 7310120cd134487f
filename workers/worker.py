"""`judge worker`: a worker on the RQ queue that judges submissions in its own sandbox box.

Jobs run in this process (no work horse forked per job, unlike RQ's default worker): the job
already isolates untrusted code in the sandbox, and staying in one process keeps the database
pool, the Redis connection, the compiled seccomp filter and the warm sandbox across jobs. The
loop (loop.py) speaks RQ's queue and worker-registry formats without RQ's per-job bookkeeping.
SIGTERM/SIGINT ask for a warm shutdown: the current submission is finished first.

At start-up the worker self-tests the installed languages (in a child process, while it already
takes jobs) and reports in Redis what passed, for as long as it lives (reporter.py); the API
lists exactly those languages.
"""

from __future__ import annotations

import logging

from judge import logs
from judge.context import WorkerContext
from judge.language_reports import LanguageReports
from judge.store.retention import Retention

from .jobs import Judging
from .loop import WorkLoop
from .reconciler import Reconciler
from .reporter import LanguageReporter

log = logging.getLogger(__name__)


def run_worker(context: WorkerContext, burst: bool = False) -> None:
    """Take jobs in `context`'s box until asked to stop (or, with `burst`, until the queue is
    empty)."""
    logs.bind_process(worker=context.worker_id)  # on every line this process logs
    judging = Judging(context)
    retention = (Retention(context.storage, context.config.submission_retention)
                 if context.config.submission_retention > 0 else None)
    reconciler = Reconciler(context.leases, context.queue, context.config.reconcile_interval,
                            context.config.reconcile_queued_after, judging.resend_callback,
                            context.config.callbacks_resend_after, retention)
    log.info("worker %s judging queue %r in box %s", context.worker_id, context.queue.name,
             context.sandbox.box.path)
    reconciler.start()
    reporter = None
    if not burst:  # a burst worker drains the queue and leaves: nothing to report
        reporter = LanguageReporter(LanguageReports(context.queue.redis, context.queue.name),
                                    context.worker_id)
        reporter.start()
    try:
        WorkLoop(context.queue, context.worker_id, judging.judge, judging.prepare_next,
                 burst, idle=judging.idle).run()
    finally:
        if reporter is not None:
            reporter.stop()
        reconciler.stop()
        judging.close()
