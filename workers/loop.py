"""The work loop: RQ's queue and worker registry, without RQ's per-job bookkeeping.

RQ's SimpleWorker spends about 70 Redis commands in about 20 round trips on every job
(execution records, the started and intermediate registries, job status and result writes,
heartbeats, a suspension check), and a profile put a quarter of a worker's busy time judging
hello worlds inside it. Our jobs need none of that: Postgres holds the submission, the claim
and lease (judge/store/leases.py) make a job taken twice harmless, and the reconciler queues again
whatever a dead worker had taken. So this loop keeps RQ's formats (the API enqueues RQ jobs
whose id is the token; `rq info` and GET /workers see these workers, their state and counts;
`rq suspend` pauses them) and per job needs one round trip while jobs wait: a script that,
unless the workers are suspended, pops a token, marks the worker busy and adds the
submission's Processing event, runs at the end of the pipeline that closes the previous
job (its completion signal and metrics, its hash dropped, the worker marked idle with its
counts: the same script). An idle worker blocks until a job comes, without taking it (BLMOVE
of the queue onto itself), then takes it with the script.

SIGTERM/SIGINT ask for a warm shutdown: an idle worker stops at once, a busy one finishes its
submission first. A second signal stops it at once; the submission's lease then expires and the
reconciler queues it again.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

import redis
import rq
from rq.job import Job
from rq.suspension import WORKERS_SUSPENDED
from rq.worker import WorkerStatus

from judge import events, redis_scripts
from judge.contract.statuses import Status
from judge.queue import JobQueue
from judge.redis_scripts import Script

log = logging.getLogger(__name__)
POLL_SECONDS = 5  # longest wait for a job: how often an idle worker looks for a suspension
HEARTBEAT_SECONDS = 60  # RQ forgets a worker silent for its worker_ttl (420 s)
HEARTBEAT_TIMEOUT = 6  # the longest a heartbeat takes: one round trip on a 5 s client
RETRY_MIN, RETRY_MAX = 0.5, 30.0  # seconds between attempts to reach Redis again

# Take the next job unless the workers are suspended: the token, popped, with the worker
# marked busy and the submission's Processing event added in the same step; SUSPENDED; or
# nil when the queue is empty. The event goes before the claim (one round trip per job
# fewer): a live client may see Processing a moment before the row says so. It is left out
# when the submission's last event is final: its token was pushed again after the verdict,
# and the claim will skip it. The stream and channel are named here from the token
# (standalone Redis, as RQ needs). KEYS: the queue, the worker's hash, RQ's suspension
# flag. ARGV: the busy state's name, then the event's stream and channel prefixes and its
# four arguments.
_TAKE = """
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local token = redis.call('LPOP', KEYS[1])
if not token then return nil end
redis.call('HSET', KEYS[2], 'state', ARGV[1])
local stream = ARGV[2] .. token
if not ended(stream) then
  add_event(stream, ARGV[3] .. token, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
end
return token
"""
_EVENTS = events.ADD_FUNCTION + events.ENDED_FUNCTION
TAKE = Script(_EVENTS + _TAKE)
# Close the job just judged with RQ's worker bookkeeping (its hash dropped: the submission's
# row carries everything; the worker idle, its counts), then take the next as TAKE does,
# unless ARGV[11] is 0. KEYS: TAKE's, then the job's hash. ARGV: TAKE's, then the idle
# state's name, the count to increment, the seconds the job took, whether to take the next.
CLOSE = Script(_EVENTS + """
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[2], 'state', ARGV[8])
redis.call('HINCRBY', KEYS[2], ARGV[9], 1)
redis.call('HINCRBYFLOAT', KEYS[2], 'total_working_time', ARGV[10])
if ARGV[11] == '0' then return nil end
""" + _TAKE)
SUSPENDED = -1
_TAKE_ARGUMENTS = (WorkerStatus.BUSY, events.stream_key(""), events.channel(""),
                   *events.arguments(events.STATUS, {"status_id": int(Status.PROCESSING)}))
assert len(_TAKE_ARGUMENTS) == 7  # CLOSE's own arguments start at ARGV[8]


class Stopped(BaseException):
    """Raised by the signal handler when a stop is asked for while no job runs (a
    BaseException: a job's `except Exception` must not swallow a second, immediate stop)."""


class WorkLoop:
    def __init__(self, queue: JobQueue, name: str,
                 job: Callable[[str, redis.client.Pipeline], None],
                 between: Callable[[], None], burst: bool,
                 idle: Callable[[], None] = lambda: None):
        """`job(token, pipe)` judges a submission (TAKE has added its Processing event),
        adding what it has to tell Redis to `pipe`;
        `between()` readies the worker for the next one once that is sent; `idle()` is
        called when no job waits, before the worker waits for one."""
        self.queue, self.name, self.job, self.between = queue, name, job, between
        self.burst, self.idle = burst, idle
        self.stopping = threading.Event()
        self._busy = False

    def run(self) -> None:
        """Take jobs until stopped (in a burst: until the queue is empty). When Redis goes
        away, wait (with back-off) and register again instead of exiting, so an outage needs
        no restart; the reconciler queues again what was lost with Redis."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._request_stop)
        delay = RETRY_MIN
        try:
            while True:
                started = time.monotonic()
                try:
                    return self._registered()
                except redis.exceptions.RedisError as e:
                    if time.monotonic() - started > RETRY_MAX:
                        delay = RETRY_MIN  # it had been working: a new outage starts over
                    log.warning("the queue is unavailable (%s); trying again in %.0f s", e, delay)
                if self.stopping.wait(delay):
                    return
                delay = min(delay * 2, RETRY_MAX)
        except Stopped:
            return

    def _request_stop(self, signum: int, frame: object) -> None:
        if self.stopping.is_set() or not self._busy:
            raise Stopped  # idle (blocked on the queue), or asked twice
        log.info("finishing the current submission, then stopping (signal %d)", signum)
        self.stopping.set()

    def _registered(self) -> None:
        """One registration (a fresh one after an outage: Redis may have come back empty)."""
        # RQ raises the socket timeout of the client a worker object is given to suit its own
        # long dequeue (to 415 s): give it the blocking client, meant for waits, then send
        # what the object does through the ordinary client, whose commands give up in 5 s.
        worker = rq.Worker([self.queue.queue], connection=self.queue.blocking,
                           name=f"{self.name}.{int(time.time())}")
        worker.connection = self.queue.redis
        worker.register_birth()
        heartbeats = threading.Event()
        beating = threading.Thread(target=self._beat, args=(worker, heartbeats),
                                   name="heartbeat", daemon=True)
        try:
            worker.set_state(WorkerStatus.IDLE)
            beating.start()
            taken = self._next(worker)
            while not self.stopping.is_set():
                if isinstance(taken, bytes):
                    taken = self._perform(worker, taken.decode())  # and what it took next
                    continue
                self.idle()
                if taken == SUSPENDED:
                    if self.burst or not self._sit_out_suspension(worker):
                        return
                elif self.burst:
                    return
                else:  # nothing waiting: block until a job comes (it stays in the queue)
                    self.queue.blocking.blmove(self.queue.queue.key, self.queue.queue.key,
                                               POLL_SECONDS, "LEFT", "LEFT")
                taken = self._next(worker)
            if isinstance(taken, bytes):  # taken with the last verdict, then asked to stop
                self._give_back(worker, taken)
        finally:
            heartbeats.set()
            self._busy = True  # a signal now must not interrupt the unregistering
            try:
                if beating.is_alive():
                    beating.join(HEARTBEAT_TIMEOUT)
                worker.register_death()
            except redis.exceptions.RedisError:
                pass  # Redis went away: its registry forgets the silent worker on its own
            finally:
                self._busy = False

    def _next(self, worker: rq.Worker) -> bytes | int | None:
        """The next token (the worker now marked busy), SUSPENDED, or None (no job waits).
        A stop asked for meanwhile lets the worker judge the job it may be taking."""
        self._busy = True
        token = TAKE.call(self.queue.redis, self._take_keys(worker), _TAKE_ARGUMENTS)
        self._busy = isinstance(token, bytes)
        return token

    def _take_keys(self, worker: rq.Worker) -> list[str]:
        return [self.queue.queue.key, worker.key, WORKERS_SUSPENDED]

    def _give_back(self, worker: rq.Worker, token: bytes) -> None:
        """Return a job taken but not started to the head of the queue (In Queue again:
        TAKE announced it as Processing)."""
        with self.queue.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self.queue.queue.key, token)
            worker.set_state(WorkerStatus.IDLE, pipeline=pipe)
            events.status(pipe, token.decode(), Status.IN_QUEUE)
            redis_scripts.raise_errors(redis_scripts.execute(self.queue.redis, pipe))
        self._busy = False

    def _perform(self, worker: rq.Worker, token: str) -> bytes | int | None:
        """Judge one submission the worker took (and was marked busy for). Unless asked to
        stop, the script that closes it also takes the next job (as `_next`, whose
        result this returns), saving a round trip per job while jobs wait."""
        started = time.monotonic()
        failed = False
        with self.queue.redis.pipeline(transaction=False) as pipe:
            try:
                self.job(token, pipe)
            except Exception:  # the reconciler queues it again; the worker goes on
                failed = True
                log.exception("job %s failed", token)
            take_next = not self.stopping.is_set()
            CLOSE.queue(pipe, [*self._take_keys(worker), Job.key_for(token)], [
                *_TAKE_ARGUMENTS, WorkerStatus.IDLE,
                "failed_job_count" if failed else "successful_job_count",
                time.monotonic() - started, int(take_next)])
            replies: list = []
            try:
                replies = redis_scripts.execute(self.queue.redis, pipe)
            finally:
                taken = replies[-1] if replies else None
                self._busy = isinstance(taken, bytes)  # a job taken is a job held
                self.between()
        redis_scripts.raise_errors(replies)
        return taken

    def _suspended(self) -> bool:
        return bool(self.queue.redis.exists(WORKERS_SUSPENDED))

    def _sit_out_suspension(self, worker: rq.Worker) -> bool:
        """`rq suspend`: take nothing until `rq resume`; False when asked to stop meanwhile."""
        log.info("suspended: taking no submissions until `rq resume`")
        worker.set_state(WorkerStatus.SUSPENDED)
        while self._suspended():
            if self.stopping.wait(1):
                return False
        worker.set_state(WorkerStatus.IDLE)
        log.info("resumed")
        return True

    @staticmethod
    def _beat(worker: rq.Worker, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                worker.heartbeat()
            except redis.exceptions.RedisError as e:  # the loop notices an outage itself
                log.warning("worker heartbeat failed: %s", e)
