"""Error responses in Judge0's shapes, and the guarantee that no client input yields a 500.

Judge0 (Rails) answers unknown routes, missing records and unparsable bodies with
`{"status":404,"error":"Not Found"}` only when the request asks for JSON (an `Accept:
application/json` header or a `.json` path suffix); otherwise the body is empty. Endpoint
errors such as `{"error":"wait not allowed"}` are plain JSON objects (`error_response`).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import falcon
import falcon.asgi
import psycopg
import psycopg_pool
import redis

log = logging.getLogger(__name__)
JSON = "application/json; charset=utf-8"


def wants_json(req: falcon.Request) -> bool:
    return req.path.endswith(".json") or "application/json" in (req.accept or "")


def set_json(resp: falcon.Response, status: int, body: object) -> None:
    resp.status = status
    resp.media = body
    resp.content_type = JSON


def error_response(resp: falcon.Response, status: int, message: str) -> None:
    """`{"error": message}`, Judge0's shape for an endpoint's own errors."""
    set_json(resp, status, {"error": message})


def serialize_http_error(req: falcon.Request, resp: falcon.Response,
                         exc: falcon.HTTPError) -> None:
    """Rails' production exception page: JSON only when JSON was asked for."""
    code = exc.status_code
    if code in (401, 403) and not exc.description:
        resp.text = ""  # Judge0's access checks answer with an empty body
        resp.content_type = JSON
        return
    if exc.description:  # our own explanatory errors (e.g. 413) always carry a message
        set_json(resp, code, {"error": exc.description})
        return
    if wants_json(req):
        set_json(resp, code, {"status": code, "error": HTTPStatus(code).phrase})
    else:
        resp.text = ""
        resp.content_type = "text/html"


def _unavailable(what: str):
    async def handler(req: falcon.Request, resp: falcon.Response, exc: Exception,
                      params) -> None:
        log.warning("%s unavailable during %s %s: %s", what, req.method, req.path, exc)
        set_json(resp, 503, {"error": f"{what} is unavailable, try again later"})
        resp.retry_after = 5
    return handler


async def _unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception,
                      params) -> None:
    log.exception("unhandled error in %s %s", req.method, req.path)
    set_json(resp, 500, {"status": 500, "error": "Internal Server Error"})


async def _unknown_route(req: falcon.Request, resp: falcon.Response, exc: Exception,
                         params) -> None:
    """Judge0 has no route for a method a path does not answer (`PUT /submissions/x`): 404,
    not Falcon's 405 with an Allow header."""
    serialize_http_error(req, resp, falcon.HTTPNotFound())
    resp.status = falcon.HTTP_404


def install(app: falcon.asgi.App) -> None:
    app.set_error_serializer(serialize_http_error)
    app.add_error_handler(Exception, _unexpected)  # HTTPError keeps its own, more specific one
    app.add_error_handler(falcon.HTTPMethodNotAllowed, _unknown_route)
    app.add_error_handler(psycopg.OperationalError, _unavailable("the database"))
    app.add_error_handler(psycopg_pool.PoolTimeout, _unavailable("the database"))
    app.add_error_handler(redis.exceptions.ConnectionError, _unavailable("the queue"))
    app.add_error_handler(redis.exceptions.TimeoutError, _unavailable("the queue"))
