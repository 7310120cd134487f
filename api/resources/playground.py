"""GET / in a browser: the web playground (sources in playground/, built by `make playground`).

The page is served whole, its script and style sheet inlined, so the playground adds no route
to Judge0's: it is public like Judge0's `/`, and its calls to the API go through the access
checks like any client's. A content security policy lets it talk to its own origin only.

Only a client that asks for HTML gets the page. Browsers do; a liveness probe, curl or an SDK
(`Accept: */*` or none) still gets Judge0's answer at `/`: empty, or the docs page with
USE_DOCS_AS_HOMEPAGE=true. PLAYGROUND_ENABLED=false, or a bundle that was never built, leaves
`/` exactly as Judge0 has it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path
from typing import NamedTuple, Protocol

import falcon

from judge.config import Config

log = logging.getLogger(__name__)

BUNDLE = Path(__file__).resolve().parents[1] / "playground" / "static"
_STYLE_TAG = '<link rel="stylesheet" href="style.css">'
_SCRIPT_TAG = '<script src="app.js"></script>'


class Page(NamedTuple):
    body: bytes
    etag: str
    policy: str  # Content-Security-Policy


class Responder(Protocol):
    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None: ...


def _inline(html: str, tag: str, element: str, content: str) -> str:
    if html.count(tag) != 1 or f"</{element}" in content.lower():
        raise ValueError(f"the playground bundle cannot be inlined: {tag!r} is not in "
                         f"index.html once, or its content closes <{element}>")
    return html.replace(tag, f"<{element}>{content}</{element}>")


def load_page(bundle: Path = BUNDLE) -> Page | None:
    """The page built from ``bundle`` (index.html, app.js, style.css), or None if not built."""
    try:
        html, script, style = ((bundle / name).read_text(encoding="utf-8")
                               for name in ("index.html", "app.js", "style.css"))
    except FileNotFoundError:
        return None
    html = _inline(html, _STYLE_TAG, "style", style)
    html = _inline(html, _SCRIPT_TAG, "script", script)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    # style-src allows inline styles: CodeMirror writes its own style sheet at run time.
    policy = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
              "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")
    body = html.encode()
    return Page(body, hashlib.sha256(body).hexdigest()[:32], policy)


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def wants_html(accept: str | None) -> bool:
    """Whether an Accept header names HTML (a browser's navigation does; `*/*` does not)."""
    for item in (accept or "").split(","):
        media, *params = item.split(";")
        if media.strip().lower() in ("text/html", "application/xhtml+xml") and _quality(params):
            return True
    return False


class Home:
    """`/`: the playground for a browser, otherwise Judge0's home page (``judge0_home``)."""

    public = True

    def __init__(self, config: Config, judge0_home: Responder, bundle: Path = BUNDLE):
        self.judge0_home = judge0_home
        self.page = load_page(bundle) if config.playground_enabled else None
        if config.playground_enabled and self.page is None:
            log.warning("the playground is not built (%s is missing): `/` answers as Judge0's "
                        "does. Run `make playground` to build it, or set "
                        "PLAYGROUND_ENABLED=false to silence this.", bundle / "app.js")

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.page is None:
            await self.judge0_home.on_get(req, resp)
            return
        resp.vary = ("Accept",)  # a cache must not give the page to a probe, or the reverse
        if not wants_html(req.accept):
            await self.judge0_home.on_get(req, resp)
            return
        resp.content_type = "text/html; charset=utf-8"
        resp.etag = self.page.etag
        resp.cache_control = ("no-cache",)  # revalidate: a new build shows at once
        resp.set_header("Content-Security-Policy", self.page.policy)
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("Referrer-Policy", "no-referrer")
        if self.page.etag in (req.if_none_match or ()) or req.if_none_match == ["*"]:
            resp.status = falcon.HTTP_304
            return
        resp.data = self.page.body
