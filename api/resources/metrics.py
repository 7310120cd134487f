"""``GET /metrics``: the engine's metrics in Prometheus' text format (judge/metrics.py).

Protected like ``/workers`` and ``/statistics``: the IP filter and, when ``AUTHN_TOKEN`` is
set, the authentication token (header or ``X-Auth-Token`` parameter, which a Prometheus scrape
config can send as ``params``); no authorization token. The registry holds only the fleet's
collector, so every API process answers with the same numbers.
"""

from __future__ import annotations

import asyncio

import falcon
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from judge.context import ApiContext
from judge.metrics import EngineCollector


class Metrics:
    def __init__(self, context: ApiContext):
        admin = context.admin  # the collector reads through blocking clients, in a thread
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(EngineCollector(admin.queue.redis, admin.queue.queue,
                                               admin.storage, admin.languages))

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # text format 0.0.4 unless the scraper asks for OpenMetrics or text 1.0.0
        encode, content_type = choose_encoder(req.get_header("Accept") or "")
        resp.status = falcon.HTTP_200
        resp.content_type = content_type
        resp.data = await asyncio.to_thread(encode, self.registry)
