"""CORS as Judge0 configures rack-cors (§1): any header and method on every path, for the
origins in ALLOW_ORIGIN, else for every origin but those in DISALLOW_ORIGIN, else for all.

It runs before routing and the access checks, as rack-cors is Judge0's outermost middleware:
a preflight ``OPTIONS`` is answered here, with no token needed. Any other ``OPTIONS`` is an
unknown route in Judge0 (404), not Falcon's automatic 200.
"""

from __future__ import annotations

import falcon
import falcon.asgi

from judge.config import Config

METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"  # rack-cors' `methods: :any`
MAX_AGE = "7200"  # rack-cors' default, seconds


class Cors:
    def __init__(self, config: Config):
        self.allow = frozenset(config.allow_origin)
        self.disallow = frozenset(config.disallow_origin)

    def allowed_origin(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for ``origin``, or None to send none."""
        if self.allow:
            return origin if origin in self.allow or "*" in self.allow else None
        if self.disallow:
            return None if origin in self.disallow else origin
        return "*"

    async def process_request(self, req: falcon.asgi.Request,
                              resp: falcon.asgi.Response) -> None:
        if req.method != "OPTIONS":
            return
        origin = req.get_header("Origin")
        if origin is None or req.get_header("Access-Control-Request-Method") is None:
            raise falcon.HTTPNotFound()
        resp.status = falcon.HTTP_200
        resp.text = ""
        resp.content_type = "text/plain"
        allowed = self.allowed_origin(origin)
        if allowed is not None:
            resp.set_headers({
                "Access-Control-Allow-Origin": allowed,
                "Access-Control-Allow-Methods": METHODS,
                "Access-Control-Allow-Headers":
                    req.get_header("Access-Control-Request-Headers") or "",
                "Access-Control-Max-Age": MAX_AGE,
            })
            if allowed != "*":
                resp.append_header("Vary", "Origin")
        resp.complete = True  # no routing, no access checks, no resource

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                               resource: object, req_succeeded: bool) -> None:
        origin = req.get_header("Origin")
        if origin is None or req.method == "OPTIONS":
            return
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return
        resp.set_header("Access-Control-Allow-Origin", allowed)
        resp.set_header("Access-Control-Allow-Methods", METHODS)
        resp.set_header("Access-Control-Max-Age", MAX_AGE)
        if allowed != "*":
            resp.append_header("Vary", "Origin")
