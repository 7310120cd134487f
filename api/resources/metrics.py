"""``GET /metrics``: the engine's metrics in Prometheus' text format (judge/metrics.py).

Protected like ``/workers`` and ``/statistics``: the IP filter and, when ``AUTHN_TOKEN`` is
set, the authentication token (header or ``X-Auth-Token`` parameter, which a Prometheus scrape
config can send as ``params``); no authorization token. The registry holds only the fleet's
collector, so every API process answers with the same numbers.
"""

from __future__ import annotations

import falcon
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from judge.context import AppContext
from judge.metrics import EngineCollector


class Metrics:
    def __init__(self, context: AppContext):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(EngineCollector(context.queue.redis, context.queue.queue,
                                               context.storage, context.languages))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # text format 0.0.4 unless the scraper asks for OpenMetrics or text 1.0.0
        encode, content_type = choose_encoder(req.get_header("Accept") or "")
        resp.status = falcon.HTTP_200
        resp.content_type = content_type
        resp.data = encode(self.registry)
