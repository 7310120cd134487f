"""Which languages the live workers can run, as they report it in Redis.

Every worker self-tests the installed languages at start-up (judge/judging/selftest.py) and publishes
the ids that passed, refreshing the report while it lives; a report whose worker stopped
refreshing it expires. The API reads the union of the live reports, so ``GET /languages`` and
the submission check list exactly what some worker can run.

Keys, under the queue's name so that engines sharing a Redis server stay apart:

* ``judge:languages:<queue>`` - sorted set of worker ids, scored by report expiry (unix time);
* ``judge:languages:<queue>:<worker id>`` - the report, JSON ``{"ids": [...], "done": bool}``,
  with the same expiry as a Redis TTL.

While no live worker has *finished* its self-test (a fresh deployment, or every worker
restarting), the readers answer None and the API falls back to its own guess: a language is
available when the binaries its commands name exist on the API's host.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)

TTL = 30.0  # seconds a report lives without being refreshed
CACHE_SECONDS = 2.0  # how long a reader trusts what it read
ERROR_BACKOFF = 10.0  # after a failed read, so an outage costs one slow request, not every one


@dataclass(frozen=True)
class Report:
    worker: str
    ids: frozenset[int]
    done: bool


class LanguageReports:
    """Publishing (workers) and reading (API) the reports of one queue."""

    def __init__(self, connection: redis.Redis, queue_name: str, *, ttl: float = TTL,
                 cache_seconds: float = CACHE_SECONDS):
        self.redis = connection
        self.index = f"judge:languages:{queue_name}"
        self.ttl = ttl
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, frozenset[int] | None] | None = None  # (until, ids)
        self._lock = threading.Lock()

    def _key(self, worker: str) -> str:
        return f"{self.index}:{worker}"

    def publish(self, worker: str, ids: Iterable[int], done: bool) -> None:
        """Announce (or refresh) what `worker` can run."""
        body = json.dumps({"ids": sorted(set(ids)), "done": done})
        expires = time.time() + self.ttl
        with self.redis.pipeline() as pipe:
            pipe.set(self._key(worker), body, px=int(self.ttl * 1000))
            pipe.zadd(self.index, {worker: expires})
            pipe.zremrangebyscore(self.index, "-inf", time.time())
            pipe.execute()

    def withdraw(self, worker: str) -> None:
        """A stopping worker takes its report back at once instead of letting it expire."""
        with self.redis.pipeline() as pipe:
            pipe.delete(self._key(worker))
            pipe.zrem(self.index, worker)
            pipe.execute()

    def live(self) -> list[Report]:
        """The reports of the workers that refreshed theirs within the TTL."""
        workers = [w.decode() for w in self.redis.zrangebyscore(self.index, time.time(), "+inf")]
        if not workers:
            return []
        reports = []
        for worker, body in zip(workers, self.redis.mget([self._key(w) for w in workers]),
                                strict=True):
            if body is None:
                continue
            data = json.loads(body)
            reports.append(Report(worker, frozenset(data["ids"]), bool(data["done"])))
        return reports

    def available_ids(self) -> Collection[int] | None:
        """The union of the live reports, or None while no live worker has finished its
        self-test (or Redis cannot be read): the caller then keeps its own guess. Cached for
        `cache_seconds` (ERROR_BACKOFF after a failure), and the same object is returned while
        it does not change."""
        cached = self._cached
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() < cached[0]:
                return cached[1]  # another thread read it while this one waited
            try:
                reports = self.live()
            except (redis.RedisError, ValueError, KeyError) as e:
                log.warning("cannot read the workers' language reports: %s", e)
                self._cached = (time.monotonic() + ERROR_BACKOFF, None)
                return None
            ids = (frozenset().union(*(r.ids for r in reports))
                   if any(r.done for r in reports) else None)
            if cached is not None and cached[1] == ids:
                ids = cached[1]  # unchanged: keep the object, the catalog keys its copies on it
            self._cached = (time.monotonic() + self.cache_seconds, ids)
            return ids
