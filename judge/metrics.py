"""Prometheus metrics shared by a fleet of processes: ``GET /metrics``.

Workers are separate processes, possibly on other hosts, and the API runs several gunicorn
processes, so nothing is counted in process memory. Workers record into Redis hashes (a
:class:`Recorder`): a histogram is one hash holding a counter per bucket, the observation
count and their sum, updated in one step (MULTI/EXEC, or one script) so a scrape never sees a
half-recorded observation; a counter is one hash with a field per label value. At scrape time the API's
:class:`EngineCollector` reads those hashes, the RQ queue and worker registry, and one
``GROUP BY`` over the submissions (cached in Redis for a few seconds), so that any API process
answers with the same numbers. A busy worker sums what it counts in memory and sends it at most
FLUSH_SECONDS apart (a :class:`Tally`). Process-local metrics (the client library's default
``process_*``/``python_*`` ones) are left out for the same reason.

A Redis that is flushed resets the counters; Prometheus treats that as a counter reset.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
import redis
import rq
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from psycopg_pool import PoolTimeout

from judge.contract.languages import Language
from judge.contract.statuses import Status
from judge.queue import worker_counts
from judge.redis_scripts import Script
from judge.store.submissions import Storage

log = logging.getLogger(__name__)
KEY_PREFIX = "judge:metrics:"
SUBMISSIONS_CACHE_KEY = KEY_PREFIX + "submissions"
SUBMISSIONS_CACHE_SECONDS = 5.0
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0)


@dataclass(frozen=True)
class HistogramSpec:
    name: str
    help: str
    buckets: tuple[float, ...] = DURATION_BUCKETS

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.name

    @functools.cached_property
    def bounds(self) -> tuple[str, ...]:
        """The ``le`` label of every bucket, ``+Inf`` last."""
        return tuple(map(floatToGoString, self.buckets)) + ("+Inf",)

    def bucket_of(self, value: float) -> str:
        """The smallest bucket holding ``value`` (buckets are stored non-cumulative)."""
        for bound, label in zip(self.buckets, self.bounds, strict=False):
            if value <= bound:
                return label
        return "+Inf"


@dataclass(frozen=True)
class CounterSpec:
    name: str  # without the _total suffix, which the exposition adds
    help: str
    label: str | None = None

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.name


RUN_SECONDS = HistogramSpec(
    "judge_run_duration_seconds",
    "Wall-clock time of a submission's program in the sandbox (its last run when "
    "number_of_runs > 1), for submissions that ran")
JUDGING_SECONDS = HistogramSpec(
    "judge_judging_duration_seconds",
    "Time a worker spent on a submission, from claiming it to storing its verdict "
    "(box set-up, compilation and every run)")
COMPILE_SECONDS = HistogramSpec(
    "judge_compile_duration_seconds",
    "Wall-clock time of a compilation in the sandbox (compile-cache hits compile nothing)")
HISTOGRAMS = (COMPILE_SECONDS, RUN_SECONDS, JUDGING_SECONDS)

INTERNAL_ERRORS = CounterSpec(
    "judge_internal_errors",
    "Submissions that ended in Internal Error (status 13): sandbox failures and judging bugs")
CALLBACK_DELIVERIES = CounterSpec(
    "judge_callback_deliveries",
    "Callbacks by outcome of their last attempt: delivered (any HTTP answer), failed "
    "(every attempt failed) or refused (invalid URL, or denied by CALLBACKS_DENY)", "outcome")
COUNTERS = (INTERNAL_ERRORS, CALLBACK_DELIVERIES)


FLUSH_SECONDS = 1.0  # the longest a busy worker keeps what it counted from Redis

# Every increment of a flush in one step, so a scrape never sees half an observation.
# ARGV: n, then n (key, field, amount) triples for HINCRBY, then triples for HINCRBYFLOAT.
_ADD_ALL = Script("""
local n = tonumber(ARGV[1])
for i = 2, 1 + 3 * n, 3 do redis.call('HINCRBY', ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
for i = 2 + 3 * n, #ARGV, 3 do redis.call('HINCRBYFLOAT', ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
""")


class Tally:
    """What a busy worker counted since it last told Redis, summed in memory: a worker
    judging hello worlds back to back would otherwise send a dozen increments per submission.
    The Recorder writes into it as into a pipeline; `flush` adds it all to a real one as one
    script call. The worker flushes at most FLUSH_SECONDS apart while jobs wait, at once
    when none does, and when it stops."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._sums: dict[tuple[str, str], float] = {}
        self._since = time.monotonic()

    def __bool__(self) -> bool:
        return bool(self._counts or self._sums)

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        self._counts[key, field] = self._counts.get((key, field), 0) + amount

    def hincrbyfloat(self, key: str, field: str, amount: float) -> None:
        self._sums[key, field] = self._sums.get((key, field), 0.0) + amount

    def due(self) -> bool:
        return bool(self) and time.monotonic() - self._since >= FLUSH_SECONDS

    def flush(self, pipe: Any) -> None:
        """Add everything counted to `pipe` (send it with judge/redis_scripts.py's
        `execute`), and start counting afresh."""
        if self:
            _ADD_ALL.queue(pipe, (), self._taken())
        self._since = time.monotonic()

    def send(self, client: redis.Redis) -> None:
        """Send everything counted now, and start counting afresh."""
        if self:
            _ADD_ALL.call(client, (), self._taken())
        self._since = time.monotonic()

    def _taken(self) -> list[Any]:
        """_ADD_ALL's arguments for everything counted, which is forgotten here."""
        args: list[Any] = [len(self._counts)]
        for (key, field), count in self._counts.items():
            args += (key, field, count)
        for (key, field), total in self._sums.items():
            args += (key, field, repr(total))
        self._counts, self._sums = {}, {}
        return args


class Recorder:
    """What worker processes use to count and time, into Redis. Each record is added to the
    pipeline (or Tally) the caller passes (the worker's loop sends it with its own
    bookkeeping), or else sent at once; sending at once never raises: a metric lost while
    Redis is unreachable must not fail a submission."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def observe(self, *observations: tuple[HistogramSpec, float],
                pipe: redis.client.Pipeline | Tally | None = None) -> None:
        """Record (histogram, seconds) pairs: a bucket's count and the sum (the exposition
        derives the total count from the buckets)."""
        def add(into: redis.client.Pipeline | Tally) -> None:
            for spec, seconds in observations:
                into.hincrby(spec.key, "le:" + spec.bucket_of(seconds), 1)
                into.hincrbyfloat(spec.key, "sum", seconds)

        self._record(", ".join(spec.name for spec, _ in observations), add, pipe)

    def judged(self, values: Mapping[str, Any], seconds: float,
               compile_seconds: float | None = None,
               pipe: redis.client.Pipeline | Tally | None = None) -> None:
        """A verdict this worker stored: ``values`` as given to storage, ``seconds`` spent
        from claim to verdict, ``compile_seconds`` its compilation's (if it compiled)."""
        observations = [(JUDGING_SECONDS, seconds)]
        if compile_seconds is not None:
            observations.append((COMPILE_SECONDS, compile_seconds))
        if values.get("wall_time") is not None:  # the program ran
            observations.append((RUN_SECONDS, float(values["wall_time"])))
        self.observe(*observations, pipe=pipe)
        if int(values["status_id"]) == Status.INTERNAL_ERROR:
            self.increment(INTERNAL_ERRORS, pipe=pipe)

    def increment(self, spec: CounterSpec, label: str = "",
                  pipe: redis.client.Pipeline | Tally | None = None) -> None:
        self._record(spec.name, lambda into: into.hincrby(spec.key, label, 1), pipe)

    def _record(self, names: str, add: Callable[[redis.client.Pipeline | Tally], object],
                pipe: redis.client.Pipeline | Tally | None) -> None:
        if pipe is not None:
            add(pipe)
            return
        try:
            with self.redis.pipeline(transaction=True) as own:
                add(own)
                own.execute()
        except redis.exceptions.RedisError as e:
            log.warning("metrics %s not recorded: %s", names, e)


class _Languages(Protocol):
    def get(self, language_id: int | None) -> Language | None: ...


def _decode(mapping: dict[bytes, bytes]) -> dict[str, str]:
    return {key.decode(): value.decode() for key, value in mapping.items()}


def histogram_family(spec: HistogramSpec, stored: dict[str, str]) -> HistogramMetricFamily:
    """The cumulative Prometheus histogram from the stored per-bucket counts."""
    family = HistogramMetricFamily(spec.name, spec.help)
    running, buckets = 0, []
    for bound in spec.bounds:
        running += int(stored.get("le:" + bound, 0))
        buckets.append((bound, running))
    family.add_metric([], buckets, float(stored.get("sum", 0.0)))
    return family


def counter_family(spec: CounterSpec, stored: dict[str, str]) -> CounterMetricFamily:
    family = CounterMetricFamily(spec.name, spec.help,
                                 labels=[spec.label] if spec.label else None)
    if spec.label:
        for value, count in sorted(stored.items()):
            family.add_metric([value], int(count))
    else:
        family.add_metric([], int(stored.get("", 0)))
    return family


def count_submissions(storage: Storage) -> list[dict[str, int]]:
    """Submissions stored, per language and status: one GROUP BY."""
    with storage.pool.connection() as conn:
        rows = conn.execute("SELECT language_id, status_id, count(*) AS n FROM submissions "
                            "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    return [dict(row) for row in rows]


_UNAVAILABLE = (redis.exceptions.RedisError, psycopg.Error, PoolTimeout, OSError)


class EngineCollector(Collector):
    """Reads the fleet's metrics at scrape time; register it in a registry of its own."""

    def __init__(self, client: redis.Redis, queue: rq.Queue, storage: Storage,
                 languages: _Languages, cache_seconds: float = SUBMISSIONS_CACHE_SECONDS):
        self.redis, self.queue, self.storage = client, queue, storage
        self.languages, self.cache_seconds = languages, cache_seconds

    def collect(self) -> Iterator[Metric]:
        # Each source on its own: a database outage still leaves the queue metrics readable.
        for source in (self._queue, self._submissions, self._recorded):
            try:
                yield from source()
            except _UNAVAILABLE as e:
                log.warning("metrics: %s unavailable: %s", source.__name__.lstrip("_"), e)

    def _queue(self) -> Iterable[Metric]:
        """The queue and its workers. A job a worker took is being judged by it: the workers
        keep no registry of started jobs (workers/loop.py), so the busy workers count them."""
        counts = worker_counts(self.queue)
        jobs = GaugeMetricFamily("judge_queue_jobs", "Jobs in the RQ queue: waiting for a "
                                 "worker (queued) or taken by one (started)",
                                 labels=["queue", "state"])
        jobs.add_metric([self.queue.name, "queued"], self.queue.count)
        jobs.add_metric([self.queue.name, "started"], counts.busy)
        yield jobs
        workers = GaugeMetricFamily("judge_workers", "Live judging workers on the queue, by "
                                    "state", labels=["queue", "state"])
        for state, count in (("busy", counts.busy), ("idle", counts.idle),
                             ("suspended", counts.suspended)):
            workers.add_metric([self.queue.name, state], count)
        yield workers

    def _submissions(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "judge_submissions", "Submissions stored, by language and status (computed at "
            f"most every {self.cache_seconds:g} s)",
            labels=["language_id", "language", "status_id", "status"])
        for row in self._submission_counts():
            language = self.languages.get(row["language_id"])
            try:
                status = Status(row["status_id"]).description
            except ValueError:
                status = ""
            family.add_metric([str(row["language_id"]), language.name if language else "",
                               str(row["status_id"]), status], row["n"])
        yield family

    def _submission_counts(self) -> list[dict[str, int]]:
        """The GROUP BY, shared through Redis so that every API process serves the same
        snapshot and frequent scrapes do not each scan the table."""
        if self.cache_seconds > 0:
            cached = self.redis.get(SUBMISSIONS_CACHE_KEY)
            if cached is not None:
                return json.loads(cached)
        rows = count_submissions(self.storage)
        if self.cache_seconds > 0:
            self.redis.set(SUBMISSIONS_CACHE_KEY, json.dumps(rows),
                           px=max(int(self.cache_seconds * 1000), 1))
        return rows

    def _recorded(self) -> Iterable[Metric]:
        specs: list[Any] = [*HISTOGRAMS, *COUNTERS]
        with self.redis.pipeline(transaction=False) as pipe:
            for spec in specs:
                pipe.hgetall(spec.key)
            stored = [_decode(found) for found in pipe.execute()]
        for spec, values in zip(specs, stored, strict=True):
            if isinstance(spec, HistogramSpec):
                yield histogram_family(spec, values)
            else:
                yield counter_family(spec, values)

