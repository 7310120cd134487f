"""The work queue (RQ on Redis).

The queue message carries the submission token only; Postgres holds the submission. The queue
is named after JUDGE0_VERSION, as Judge0's Resque queue is, so `/workers` reads the same.
Workers and the command line use `JobQueue`; the API, which never blocks a thread, uses
`AsyncJobQueue`, which queues the same RQ jobs through redis.asyncio. What a waiting client
waits for is the submission's final event (judge/events.py, judge/event_hub.py).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import rq
import rq.utils
from rq.worker import WorkerStatus
from rq.worker_registration import clean_worker_registry

from judge import events
from judge.redis_scripts import Script

JOB_FUNCTION = "workers.jobs.judge_submission"  # resolved by RQ inside the worker process
JOB_TIMEOUT = 3600  # seconds; the sandbox limits end every run long before


@dataclass(frozen=True)
class WorkerCounts:
    """The live workers on one queue, by state, and the jobs they failed."""

    live: int
    busy: int
    suspended: int
    failed: int

    @property
    def idle(self) -> int:
        return self.live - self.busy - self.suspended


def _enqueue(queue: rq.Queue, token: str, pipe: redis.client.Pipeline) -> None:
    """Add the RQ job of `token` to `pipe` (its id is the token)."""
    queue.enqueue(JOB_FUNCTION, token, job_id=token, result_ttl=0, failure_ttl=86400,
                  job_timeout=JOB_TIMEOUT, pipeline=pipe)


# Queue a job with its In Queue event: what RQ's enqueue writes (the queue in RQ's set of
# queues, the job's hash, its id pushed), then the event; returns the queue's length. KEYS:
# RQ's set of queues, the queue, the job's hash, the event's stream and channel. ARGV: the
# token, the event's four arguments (events.arguments), then the hash's fields and values.
ENQUEUE = Script(events.ADD_FUNCTION + """
redis.call('SADD', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[3], unpack(ARGV, 6))
local length = redis.call('RPUSH', KEYS[2], ARGV[1])
add_event(KEYS[4], KEYS[5], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return length
""")
# How long the queue's length seen in ENQUEUE's reply may stand for LLEN (AsyncJobQueue.depth)
SEEN_LENGTH_SECONDS = 0.25
_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"  # a token, as long as every token
_STAMPED = ("created_at", "enqueued_at")  # the fields RQ sets to the time of queueing


class JobFormat:
    """RQ's job for a token, in the fields RQ's own enqueue writes, without RQ's work per
    job (creating a Job, pickling its call, a dozen commands: a third of the API's CPU per
    submission). RQ formats a job for a placeholder token once; a job differs from it only
    in the token (in the description and in the pickled call, where a token of the same
    length changes no other byte) and in the times it was created and queued. A token of
    another length is formatted by RQ itself."""

    def __init__(self, queue: rq.Queue):
        self.queue = queue
        fields = rq_fields(queue, _PLACEHOLDER)
        self._fields = dict(zip(fields[::2], fields[1::2], strict=True))
        self._call = zlib.decompress(self._fields["data"])
        self._placeholder = _PLACEHOLDER.encode()

    def fields(self, token: str) -> list[Any]:
        """The job hash's fields and values, flat, as HSET takes them."""
        if len(token) != len(_PLACEHOLDER):
            return rq_fields(self.queue, token)
        stamp = rq.utils.utcformat(rq.utils.now())
        out: list[Any] = []
        for name, value in self._fields.items():
            if name in _STAMPED:
                value = stamp
            elif name == "data":
                value = zlib.compress(self._call.replace(self._placeholder, token.encode()))
            elif isinstance(value, str) and _PLACEHOLDER in value:
                value = value.replace(_PLACEHOLDER, token)
            out += (name, value)
        return out

    def enqueue(self, token: str) -> tuple[list[str], list[Any]]:
        """ENQUEUE's keys and arguments for `token`, with its In Queue event."""
        keys = [rq.Queue.redis_queues_keys, self.queue.key, rq.job.Job.key_for(token),
                events.stream_key(token), events.channel(token)]
        return keys, [token, *events.arguments(events.STATUS, {"status_id": 1}),
                      *self.fields(token)]


def rq_fields(queue: rq.Queue, token: str) -> list[Any]:
    """The fields and values, flat, that RQ's own enqueue writes into the job's hash (on a
    pipeline that records them and is never sent)."""
    recorder = queue.connection.pipeline(transaction=False)
    _enqueue(queue, token, recorder)
    fields = max((args for args, _ in recorder.command_stack if args[0] == "HSET"), key=len)
    return list(fields[2:])


def worker_counts(queue: rq.Queue) -> WorkerCounts:
    """Counted after pruning the dead (RQ forgets a worker whose heartbeat stopped)."""
    clean_worker_registry(queue)
    workers = rq.Worker.all(queue=queue)
    states = [worker.get_state() for worker in workers]
    return WorkerCounts(live=len(workers), busy=states.count(WorkerStatus.BUSY),
                        suspended=states.count(WorkerStatus.SUSPENDED),
                        failed=sum(worker.failed_job_count for worker in workers))


class JobQueue:
    def __init__(self, redis_url: str, name: str):
        # Short operations fail after 5 s (redis-py's default) so a hung server cannot hang a
        # worker; blocking ones (the idle worker's BLMOVE) need no read timeout and rely on
        # TCP keepalive to notice a dead server.
        self.redis = redis.Redis.from_url(redis_url, health_check_interval=30)
        self.blocking = redis.Redis.from_url(redis_url, socket_timeout=None,
                                             socket_keepalive=True, health_check_interval=30)
        self.queue = rq.Queue(name, connection=self.redis)
        self._jobs: JobFormat | None = None

    @property
    def name(self) -> str:
        return self.queue.name

    def enqueue(self, token: str) -> None:
        """Queue the submission (again: the reconciler) with its In Queue event, in one
        round trip (RQ's own enqueue would save the job and push it in two)."""
        if self._jobs is None:  # RQ asks the server's version for the job's format
            self._jobs = JobFormat(self.queue)
        ENQUEUE.call(self.redis, *self._jobs.enqueue(token))

    def depth(self) -> int:
        """Jobs waiting for a worker (Judge0's queue size: Resque.size)."""
        return self.queue.count

    def queued_tokens(self) -> set[str]:
        """Tokens the queue knows: waiting, or taken by a worker that has not claimed the
        submission yet (job ids are tokens)."""
        return set(self.queue.get_job_ids()) | set(self.queue.started_job_registry.get_job_ids())

    def workers(self) -> list[dict[str, int | str]]:
        """``GET /workers`` (§10.6): per queue known to Redis (ours first), the waiting jobs
        and the live workers listening on it by state. Dead workers are pruned first, as in
        Judge0 v1.13.1; RQ forgets a worker whose heartbeat stopped."""
        queues = [self.queue] + [queue for queue in rq.Queue.all(connection=self.redis)
                                 if queue.name != self.name]
        summary: list[dict[str, int | str]] = []
        for queue in queues:
            counts = worker_counts(queue)
            summary.append({"queue": queue.name, "size": queue.count, "available": counts.live,
                            "idle": counts.idle, "working": counts.busy,
                            "paused": counts.suspended, "failed": counts.failed})
        return summary

    def close(self) -> None:
        self.redis.close()
        self.blocking.close()


class AsyncJobQueue:
    """The API's side of the queue, on redis.asyncio: queueing a submission (its RQ job and
    its In Queue event, one round trip) and the queue's length.

    RQ has no asyncio client, so the job is formatted as RQ's own enqueue writes it
    (JobFormat: RQ formats one on a client that never connects; nothing of its I/O runs) and
    sent through the asyncio connection."""

    def __init__(self, redis_url: str, name: str):
        self.redis = redis.asyncio.Redis.from_url(redis_url, health_check_interval=30)
        # an unconnected client: RQ writes its commands to its pipelines, never to it
        self._formatter = redis.Redis.from_url(redis_url)
        self.queue = rq.Queue(name, connection=self._formatter)
        self._jobs: JobFormat | None = None
        self._seen = (0, -SEEN_LENGTH_SECONDS)  # the queue's length after our last job, when

    @property
    def name(self) -> str:
        return self.queue.name

    async def open(self) -> None:
        """Ask the server's version once (RQ shapes jobs by it; it would ask per job)."""
        info = await self.redis.info("server")
        self.queue.redis_server_version = tuple(
            int(part) for part in str(info["redis_version"]).split(".")[:3])
        self._jobs = JobFormat(self.queue)

    async def enqueue(self, token: str) -> None:
        if self._jobs is None:  # Redis was down when the API started
            await self.open()
        length = await ENQUEUE.call_async(self.redis, *self._jobs.enqueue(token))
        self._seen = (int(length), time.monotonic())

    async def depth(self, seen_below: int = 0) -> int:
        """Jobs waiting for a worker (Judge0's queue size: Resque.size). With `seen_below`,
        the length this process saw when it last queued a job answers without a round trip
        (one of the API's three per POST) if it was under `seen_below` and at most
        SEEN_LENGTH_SECONDS ago: workers only shorten the queue since, and only other API
        processes queueing could lengthen it. A caller that asks for half its limit is
        wrong only if those others queue half the limit within that moment, when Judge0's
        own check (read the size, then queue) is no more exact either."""
        length, when = self._seen
        if length < seen_below and time.monotonic() - when <= SEEN_LENGTH_SECONDS:
            return length
        return await self.redis.llen(self.queue.key)

    async def close(self) -> None:
        await self.redis.aclose()
        self._formatter.close()
