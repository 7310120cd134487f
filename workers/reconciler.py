"""The reconciler: Postgres is the source of truth, so whatever happens to the queue or to a
worker, every accepted submission is eventually judged.

Every worker process runs one in a daemon thread. Each pass, under a fleet-wide advisory lock
(so several hosts can run it at once without doubling work):

- Processing submissions whose worker stopped renewing its lease (it was killed, its host
  died) go back In Queue and are queued again;
- In Queue submissions older than RECONCILE_QUEUED_AFTER that are not in the Redis queue (the
  API could not reach Redis, a queue message was lost, Redis restarted empty) are queued;
- pending callbacks whose owner's claim ran out (the worker that was to deliver them died;
  a live one renews its claims while they wait in its pool or are being delivered, however
  slow the receiver), at least CALLBACKS_RESEND_AFTER seconds after their verdict, are
  handed to this worker's pool, which claims them in turn (judge/store/leases.py).

After the pass, with SUBMISSION_RETENTION set, old finished submissions are purged in bounded
batches under a lock of their own (judge/store/retention.py).

A submission queued twice by accident is still judged once: a claim needs status In Queue or
an expired lease, and the first final write wins.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from judge.queue import JobQueue
from judge.store.leases import Leases
from judge.store.retention import Retention

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, leases: Leases, queue: JobQueue, interval: float, queued_after: float,
                 resend: Callable[[str, str], None] | None = None,
                 callbacks_after: float = 120.0, retention: Retention | None = None):
        self.leases = leases
        self.queue = queue
        self.interval = interval
        self.queued_after = queued_after
        self.resend = resend  # hands a (token, url) to this worker's callback pool, which claims it
        self.callbacks_after = callbacks_after
        self.retention = retention
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[str]:
        """One pass; returns the tokens it queued."""
        with self.leases.exclusive_pass() as mine:
            if not mine:
                return []
            expired = self.leases.requeue_expired()
            waiting = self.leases.waiting_since(self.queued_after)
            queued = self.queue.queued_tokens() if waiting else set()
            lost = [token for token in waiting if token not in queued]
            for token in expired + lost:
                self.queue.enqueue(token)
            orphans = self.leases.orphaned_callbacks(self.callbacks_after) if self.resend else []
            for token, url in orphans:
                self.resend(token, url)
        if expired or lost or orphans:
            log.warning("reconciler queued %d submission(s) of dead workers and %d missing "
                        "from the queue, and re-sent %d callback(s) of dead workers",
                        len(expired), len(lost), len(orphans))
        return expired + lost

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
                if self.retention is not None:
                    self.retention.run_if_due(self._stop)
            except (redis.exceptions.RedisError, OSError) as e:
                log.warning("reconciler pass skipped, the queue is unavailable: %s", e)
            except Exception:  # a failed pass must not end the thread; the next one retries
                log.exception("reconciler pass failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
