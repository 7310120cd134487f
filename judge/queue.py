"""The work queue (RQ on Redis).

The queue message carries the submission token only; Postgres holds the submission. The queue
is named after JUDGE0_VERSION, as Judge0's Resque queue is, so `/workers` reads the same.
Workers and the command line use `JobQueue`; the API, which never blocks a thread, uses
`AsyncJobQueue`, which queues the same RQ jobs through redis.asyncio. What a waiting client
waits for is the submission's final event (judge/events.py, judge/event_hub.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
import redis.asyncio
import rq
from rq.worker import WorkerStatus
from rq.worker_registration import clean_worker_registry

from judge import events

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

    @property
    def name(self) -> str:
        return self.queue.name

    def enqueue(self, token: str) -> None:
        """Queue the submission (again: the reconciler) with its In Queue event, in one
        round trip (RQ's own enqueue would save the job and push it in two)."""
        with self.redis.pipeline() as pipe:
            _enqueue(self.queue, token, pipe)
            events.status(pipe, token, 1)
            pipe.execute()

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

    RQ has no asyncio client, so the job's commands are what RQ's own enqueue adds to a
    pipeline of a client that never connects (RQ formats the job; nothing of its I/O runs),
    sent through the asyncio connection."""

    def __init__(self, redis_url: str, name: str):
        self.redis = redis.asyncio.Redis.from_url(redis_url, health_check_interval=30)
        # an unconnected client: RQ writes its commands to its pipelines, never to it
        self._formatter = redis.Redis.from_url(redis_url)
        self.queue = rq.Queue(name, connection=self._formatter)

    @property
    def name(self) -> str:
        return self.queue.name

    async def open(self) -> None:
        """Ask the server's version once (RQ shapes jobs by it; it would ask per job)."""
        info = await self.redis.info("server")
        self.queue.redis_server_version = tuple(
            int(part) for part in str(info["redis_version"]).split(".")[:3])

    async def enqueue(self, token: str) -> None:
        if self.queue.redis_server_version is None:  # Redis was down when the API started
            await self.open()
        recorder = self._formatter.pipeline(transaction=False)
        _enqueue(self.queue, token, recorder)
        async with self.redis.pipeline(transaction=False) as pipe:
            for args, options in recorder.command_stack:
                pipe.execute_command(*args, **options)
            events.status(pipe, token, 1)
            await pipe.execute()

    async def depth(self) -> int:
        """Jobs waiting for a worker (Judge0's queue size: Resque.size)."""
        return await self.redis.llen(self.queue.key)

    async def close(self) -> None:
        await self.redis.aclose()
        self._formatter.close()
