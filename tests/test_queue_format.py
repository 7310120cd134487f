"""The RQ jobs the engine queues (judge/queue.py), on a real Redis: written without RQ's
per-job work, they are the jobs RQ's own enqueue writes, RQ reads them back as the call of
`workers.jobs.judge_submission` for their token, and each comes with its In Queue event."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import rq
from rq.job import Job, JobStatus

from judge import events
from judge.queue import (
    JOB_FUNCTION,
    SEEN_LENGTH_SECONDS,
    AsyncJobQueue,
    JobFormat,
    JobQueue,
    rq_fields,
)

STAMPED = {"created_at", "enqueued_at"}


@pytest.mark.parametrize("token", [str(uuid.uuid4()), "a-token-of-another-length"])
def test_a_job_is_the_one_rqs_enqueue_writes(redis_conn, token):
    queue = rq.Queue("format-test", connection=redis_conn)
    flat = JobFormat(queue).fields(token)
    ours = dict(zip(flat[::2], flat[1::2], strict=True))
    fields = rq_fields(queue, token)
    theirs = dict(zip(fields[::2], fields[1::2], strict=True))
    assert ours.keys() == theirs.keys()
    assert {k: v for k, v in ours.items() if k not in STAMPED} == \
        {k: v for k, v in theirs.items() if k not in STAMPED}
    assert all(ours[k].endswith("Z") for k in STAMPED)


def test_rq_reads_a_queued_job_back_as_the_judging_call(redis_url, redis_conn):
    jobs = JobQueue(redis_url, "format-test")
    try:
        token = str(uuid.uuid4())
        jobs.enqueue(token)
        assert jobs.queue.get_job_ids() == [token]
        assert jobs.depth() == 1
        assert b"rq:queue:format-test" in redis_conn.smembers("rq:queues")
        job = Job.fetch(token, connection=redis_conn)
        assert (job.func_name, job.args, job.kwargs) == (JOB_FUNCTION, (token,), {})
        assert job.get_status() == JobStatus.QUEUED and job.origin == "format-test"
        assert job.enqueued_at is not None and job.timeout == 3600
        (_, fields), = redis_conn.xrange(events.stream_key(token))
        assert fields == {b"kind": b"status", b"data": b'{"status_id":1}'}
    finally:
        jobs.close()


def test_the_api_reuses_the_length_its_last_job_saw_only_far_below_the_limit(redis_url,
                                                                            redis_conn):
    """AsyncJobQueue.depth: the length ENQUEUE replied stands for LLEN while it is under
    `seen_below` and fresh; a caller near its limit, or late, gets the queue's real length."""
    async def main() -> list[int]:
        jobs = AsyncJobQueue(redis_url, "format-test")
        try:
            await jobs.open()
            await jobs.enqueue(str(uuid.uuid4()))
            await jobs.enqueue(str(uuid.uuid4()))
            redis_conn.rpush(jobs.queue.key, "queued-by-another-api-process")
            answers = [await jobs.depth(seen_below=10),  # the length the last job saw
                       await jobs.depth(seen_below=2),  # not under 2: asks Redis
                       await jobs.depth()]  # asks Redis
            jobs._seen = (2, time.monotonic() - SEEN_LENGTH_SECONDS - 1)  # seen too long ago
            answers.append(await jobs.depth(seen_below=10))
            return answers
        finally:
            await jobs.close()

    assert asyncio.run(main()) == [2, 3, 3, 3]
