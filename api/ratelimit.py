"""Per-client rate limit on creating submissions (beyond Judge0, off by default).

RATE_LIMIT_REQUESTS requests per RATE_LIMIT_WINDOW seconds for each client, counted in Redis
(one fixed window per client, shared by every API process); over it the answer is 429 with a
Retry-After header. A client is who the access checks found (api/access.py): its valid
authentication token, else its address, so inventing tokens gains nothing. Resources opt in
with `rate_limited = ("POST",)`. If Redis is
unreachable the request goes through: admission control must not turn a queue outage into a
refusal of work PostgreSQL can still accept.
"""

from __future__ import annotations

import logging
import time

import falcon
import falcon.asgi
import redis
import redis.asyncio

from judge.config import Config

log = logging.getLogger(__name__)
KEY = "judge:ratelimit:{client}:{window}"


class RateLimit:
    def __init__(self, config: Config, client: redis.asyncio.Redis):
        self.limit = config.rate_limit_requests
        self.window = max(config.rate_limit_window, 1.0)
        self.redis = client

    async def process_resource(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                               resource: object, route_params: dict) -> None:
        if self.limit <= 0 or req.method.upper() not in getattr(resource, "rate_limited", ()):
            return
        now = time.time()
        window = int(now // self.window)
        key = KEY.format(client=req.context.client, window=window)
        try:
            async with self.redis.pipeline() as pipe:
                pipe.incr(key)
                pipe.expire(key, int(self.window) + 1)
                count = (await pipe.execute())[0]
        except redis.exceptions.RedisError as e:
            log.warning("rate limit not applied, the queue is unavailable: %s", e)
            return
        if count > self.limit:
            retry = max(1, int((window + 1) * self.window - now + 0.999))
            raise falcon.HTTPTooManyRequests(
                description=f"rate limit of {self.limit} requests per {self.window:g} s "
                            f"exceeded, retry after {retry} s", retry_after=retry)
