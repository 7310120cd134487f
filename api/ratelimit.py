"""Per-client rate limit on creating submissions (beyond Judge0, off by default).

RATE_LIMIT_REQUESTS requests per RATE_LIMIT_WINDOW seconds for each client, counted in Redis
(one fixed window per client, shared by every API process); over it the answer is 429 with a
Retry-After header. A client is its authentication token when it sends one, else its address
(as the IP filter sees it). Resources opt in with `rate_limited = ("POST",)`. If Redis is
unreachable the request goes through: admission control must not turn a queue outage into a
refusal of work PostgreSQL can still accept.
"""

from __future__ import annotations

import hashlib
import logging
import time

import falcon
import redis

from judge.config import Config

from .access import IpFilter

log = logging.getLogger(__name__)
KEY = "judge:ratelimit:{client}:{window}"


class RateLimit:
    def __init__(self, config: Config, client: redis.Redis):
        self.limit = config.rate_limit_requests
        self.window = max(config.rate_limit_window, 1.0)
        self.header = config.authn_header
        self.redis = client
        self.ips = IpFilter((), (), config.trusted_proxies)

    def _client(self, req: falcon.Request) -> str:
        token = req.get_header(self.header)
        if token:  # hashed: the key must not reveal the token
            return "t:" + hashlib.sha256(token.encode()).hexdigest()[:32]
        return "ip:" + self.ips.client_ip(req)

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         route_params: dict) -> None:
        if self.limit <= 0 or req.method.upper() not in getattr(resource, "rate_limited", ()):
            return
        now = time.time()
        window = int(now // self.window)
        key = KEY.format(client=self._client(req), window=window)
        try:
            with self.redis.pipeline() as pipe:
                pipe.incr(key)
                pipe.expire(key, int(self.window) + 1)
                count = pipe.execute()[0]
        except redis.exceptions.RedisError as e:
            log.warning("rate limit not applied, the queue is unavailable: %s", e)
            return
        if count > self.limit:
            retry = max(1, int((window + 1) * self.window - now + 0.999))
            raise falcon.HTTPTooManyRequests(
                description=f"rate limit of {self.limit} requests per {self.window:g} s "
                            f"exceeded, retry after {retry} s", retry_after=retry)
