"""GET /dummy-client.html: a page to try one submission by hand. Judge0 serves one at this
path and its documentation sends users there; this one is ours (api/static/dummy-client.html):
a form for every submission option, the request and answer log, following the submission with
GET /submissions/:token until it is judged. Public, like Judge0's static files; the calls it
makes go through the access checks like any client's.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import falcon

PAGE = Path(__file__).resolve().parents[1] / "static" / "dummy-client.html"


class DummyClient:
    public = True

    def __init__(self, page: Path = PAGE) -> None:
        html = page.read_text(encoding="utf-8")
        scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
        digests = " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
            for s in scripts)
        # the page may be pointed at another server's API, so it may connect anywhere
        self.policy = (f"default-src 'none'; script-src {digests}; style-src 'unsafe-inline'; "
                       "connect-src *; base-uri 'none'; form-action 'none'; "
                       "frame-ancestors 'none'")
        self.body = html.encode()

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/html; charset=utf-8"
        resp.data = self.body
        resp.set_header("Content-Security-Policy", self.policy)
        resp.set_header("X-Content-Type-Options", "nosniff")
