"""GET /, /docs and /openapi.json: open to everyone, like Judge0's static files (§1, §10.11)."""

from __future__ import annotations

import falcon

from judge.config import Config

from .. import docs_page, openapi
from ..errors import set_json

HTML = "text/html; charset=utf-8"


class OpenApi:
    public = True

    def __init__(self, config: Config):
        self.document = openapi.spec(config)

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        set_json(resp, 200, self.document)


class Docs:
    public = True

    def __init__(self, config: Config):
        self.page = docs_page.render(openapi.spec(config))

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = HTML
        resp.text = self.page


class Home:
    """An empty 200 (a liveness probe for the web process), or the docs page when
    USE_DOCS_AS_HOMEPAGE=true."""

    public = True

    def __init__(self, config: Config, docs: Docs):
        self.page = docs.page if config.use_docs_as_homepage else ""

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = HTML
        resp.text = self.page
