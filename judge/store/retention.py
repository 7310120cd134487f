"""Retention: purge finished submissions older than ``SUBMISSION_RETENTION``.

Off unless configured. The workers' reconcilers call :meth:`Retention.run_if_due` after each
of their passes; a purge runs at most every ``every`` seconds per worker, and only one at a
time in the whole fleet (a PostgreSQL advisory lock of its own, so a long purge never holds
up the reconciler's re-queuing under its lock). It deletes in bounded batches, each its own
short transaction, with a pause in between, so it never holds many row locks or starves the
API, and a pass stops after ``max_batches`` (a backlog is worked off over later passes).

Only final submissions (status id 3 and above) whose ``finished_at`` is older than the
retention are deleted; In Queue and Processing ones never are. A deleted submission answers
404 like any unknown token, and in a batch GET its place holds ``null``.
"""

from __future__ import annotations

import logging
import threading
import time

from judge.store.submissions import UNFINISHED_STATUSES, Storage

log = logging.getLogger(__name__)
RETENTION_LOCK_KEY = 0x4A554447_45303033  # "JUDGE003": one purge at a time, fleet-wide
BATCH_SIZE = 1000
PAUSE_SECONDS = 0.2
MAX_BATCHES = 50  # per pass: at most 50,000 rows, then the reconciler gets its turn again
EVERY_SECONDS = 60.0

_PURGE_BATCH = (
    "DELETE FROM submissions WHERE id IN (SELECT id FROM submissions "
    "WHERE status_id <> ALL(%s) AND finished_at < now() - make_interval(secs => %s) "
    "LIMIT %s FOR UPDATE SKIP LOCKED)")


class Retention:
    def __init__(self, storage: Storage, max_age: float, *, batch_size: int = BATCH_SIZE,
                 pause: float = PAUSE_SECONDS, max_batches: int = MAX_BATCHES,
                 every: float = EVERY_SECONDS):
        if max_age <= 0:
            raise ValueError("a retention needs a positive age; 0 means keep everything")
        self.storage, self.max_age = storage, max_age
        self.batch_size, self.pause, self.max_batches = batch_size, pause, max_batches
        self.every = every
        self._next = 0.0  # monotonic time of the next purge; the first pass purges

    def purge(self, stop: threading.Event | None = None) -> int | None:
        """One bounded purge; the number of submissions deleted, or None if another process
        was purging. ``stop`` ends it between batches (the worker is shutting down)."""
        deleted = 0
        with self.storage.pool.connection() as conn:
            # Session-level lock: each batch below commits on its own (autocommit).
            if not conn.execute("SELECT pg_try_advisory_lock(%s) AS ok",
                                [RETENTION_LOCK_KEY]).fetchone()["ok"]:
                return None
            try:
                for number in range(self.max_batches):
                    if number and (stop.wait(self.pause) if stop else _sleep(self.pause)):
                        break
                    count = conn.execute(_PURGE_BATCH, [list(UNFINISHED_STATUSES),
                                                        self.max_age, self.batch_size]).rowcount
                    deleted += count
                    if count < self.batch_size:
                        break
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [RETENTION_LOCK_KEY])
        if deleted:
            log.info("retention purged %d finished submission(s) older than %g s", deleted,
                     self.max_age)
        return deleted

    def run_if_due(self, stop: threading.Event | None = None) -> int | None:
        """Purge if ``every`` seconds passed since the last purge, or at once while a backlog
        remains (the last pass was cut short by ``max_batches``)."""
        now = time.monotonic()
        if now < self._next:
            return None
        deleted = self.purge(stop)
        backlog = deleted is not None and deleted >= self.batch_size * self.max_batches
        self._next = now if backlog else now + self.every
        return deleted


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False
