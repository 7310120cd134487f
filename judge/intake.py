"""Taking in new submissions: the queue-full rule, then store and queue (§3.1, §3.5).

PostgreSQL is the source of truth: a submission exists once its row is committed, and if
Redis is down it is still accepted; the reconciler queues it later.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import redis

from judge.context import AppContext

log = logging.getLogger(__name__)


def accept(ctx: AppContext, attrs: Mapping[str, Any]) -> str:
    """Store a validated submission, then queue it; its token. Postgres is the source of
    truth: if Redis is down the submission is still accepted and the reconciler queues it."""
    token = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC)
    row = {**attrs, "token": token, "status_id": 1, "created_at": now, "updated_at": now,
           "queued_at": now, "queue_host": ctx.config.hostname}
    ctx.storage.insert_submission(row)
    try:
        ctx.queue.enqueue(token)
    except redis.exceptions.RedisError as e:
        log.warning("submission %s stored but not queued (%s); the reconciler will queue it",
                    token, e)
    return token


def queue_is_full(ctx: AppContext, adding: int) -> bool:
    """Judge0's capacity check: waiting submissions plus those being added above
    MAX_QUEUE_SIZE (the ones being judged do not count). The queue's length is one Redis
    command; while Redis is down the database counts them (the reconciler queues them later)."""
    try:
        waiting = ctx.queue.depth()
    except redis.exceptions.RedisError:
        waiting = ctx.storage.count_pending()
    return waiting + adding > ctx.config.max_queue_size
