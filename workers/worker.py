"""`judge worker`: an RQ worker that judges submissions in its own sandbox box.

RQ's default worker forks a work horse per job. Ours does not (SimpleWorker): the job already
isolates untrusted code in the sandbox, and staying in one process keeps the database pool,
the Redis connection, the compiled seccomp filter and the claimed box warm across jobs.
SIGTERM/SIGINT ask RQ for a warm shutdown: the current submission is finished first.
"""

from __future__ import annotations

import logging
import os
import socket

import rq

from judge.context import WorkerContext

from . import jobs

log = logging.getLogger(__name__)


def run_worker(context: WorkerContext | None = None, burst: bool = False) -> None:
    """Claim a box, then take jobs until asked to stop (or, with `burst`, until the queue is
    empty)."""
    context = context or WorkerContext.create()
    jobs.install(context)
    name = f"{socket.gethostname()}.{os.getpid()}.box{context.sandbox.box.id}"
    worker = rq.SimpleWorker([context.queue.queue], connection=context.queue.redis, name=name)
    log.info("worker %s judging queue %r in box %s", name, context.queue.name,
             context.sandbox.box.path)
    try:
        worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
    finally:
        context.close()
