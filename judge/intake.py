"""Taking in new submissions: the queue-full rule, then store and queue (§3.1, §3.5).

PostgreSQL is the source of truth: a submission exists once its row is committed, and if
Redis is down it is still accepted; the reconciler queues it later. These run in the API's
event loop (judge/context.py: ApiContext).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from judge.context import ApiContext
from judge.contract.submission import problem, rules

log = logging.getLogger(__name__)


async def parse_submission(ctx: ApiContext, body: Mapping[str, Any], base64: bool
                           ) -> tuple[dict[str, Any] | None, rules.Errors]:
    """A create request's attributes, or its 422 errors: Judge0's rules, and for a
    submission of a problem (beyond Judge0) the problem's (judge/contract/submission/
    problem.py), against its current version."""
    slug, run_all, errors = problem.parameters(body)
    config, version_id = ctx.config, None
    if slug is not None:
        current = await ctx.problems.current(slug)
        if current is None:
            errors["problem"] = [f"problem {slug} doesn't exist"]
        else:
            version_id, limits = current
            config = problem.with_problem_limits(config, limits)
    attrs, judge0_errors = rules.parse_create(body, base64, config, ctx.languages)
    errors = {**judge0_errors, **errors}
    if slug is not None:
        errors.update(problem.case_input_errors(body))
    if errors:
        return None, errors
    if slug is not None:
        attrs.update(problem=slug, problem_version_id=version_id, run_all_test_cases=run_all)
    return attrs, {}


def new_token() -> str:
    return str(uuid.uuid4())


async def accept(ctx: ApiContext, attrs: Mapping[str, Any], token: str | None = None) -> str:
    """Store a validated submission, then queue it (with its In Queue event); its token,
    `token` if given (a caller that listens for its events before it exists)."""
    token = token or new_token()
    now = dt.datetime.now(dt.UTC)
    row = {**attrs, "token": token, "status_id": 1, "created_at": now, "updated_at": now,
           "queued_at": now, "queue_host": ctx.config.hostname}
    await ctx.storage.insert_submission(row)
    try:
        await ctx.queue.enqueue(token)
    except redis.exceptions.RedisError as e:
        log.warning("submission %s stored but not queued (%s); the reconciler will queue it",
                    token, e)
    return token


async def accept_waiting(ctx: ApiContext, batch: Sequence[Mapping[str, Any]]) -> list[str]:
    """Accept these submissions and wait, WAIT_RESULT_TIMEOUT seconds in all, until every one
    is final (`wait=true`); their tokens. The hub listens before they exist, so no event of
    theirs can come before it does. Without Redis they are still accepted, and the caller
    answers with them as they stand."""
    tokens = [new_token() for _ in batch]
    accepted = 0
    try:
        async with ctx.hub.listen(tokens) as listener:
            for attrs, token in zip(batch, tokens, strict=True):
                await accept(ctx, attrs, token)
                accepted += 1
            await ctx.hub.wait_final(listener, ctx.config.wait_timeout)
    except (redis.exceptions.RedisError, TimeoutError) as e:
        log.warning("cannot wait for %d submission(s), the queue is unavailable: %s",
                    len(tokens), e)
        for attrs, token in list(zip(batch, tokens, strict=True))[accepted:]:
            await accept(ctx, attrs, token)
    return tokens


async def queue_is_full(ctx: ApiContext, adding: int) -> bool:
    """Judge0's capacity check: waiting submissions plus those being added above
    MAX_QUEUE_SIZE (the ones being judged do not count). The queue's length is one Redis
    command, or the length seen a moment ago while it was under half the room left; while
    Redis is down the database counts them (the reconciler queues them later)."""
    limit = ctx.config.max_queue_size
    try:
        waiting = await ctx.queue.depth(seen_below=(limit - adding) // 2)
    except redis.exceptions.RedisError:
        waiting = await ctx.storage.count_pending()
    return waiting + adding > limit
