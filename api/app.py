"""The Falcon application: `create_app(context)` wires resources to their collaborators.

An ASGI app, served by gunicorn with our uvicorn worker class (api/server.py; `judge up`
builds the command). A waiting client (`wait=true`, live events, a slow upload) costs a
coroutine, not a thread. The context connects at the ASGI lifespan's start-up, inside the
serving event loop, and closes at its shutdown.

Request flow: CORS (answers preflights, as rack-cors does before Judge0's routing), then the
access checks (IP filter, authentication, authorization, maintenance; api/access.py), then the
resource. Routes and methods Judge0 does not have are 404, including the 405 and automatic
OPTIONS answers Falcon would give.
"""

from __future__ import annotations

import functools
import json
import time

import falcon
import falcon.asgi

from judge import logs
from judge.context import ApiContext

from . import errors
from .access import AccessControl
from .cors import Cors
from .ratelimit import RateLimit
from .resources import (
    batch,
    catalog,
    docs,
    dummy_client,
    events,
    info,
    metrics,
    playground,
    problems,
    submissions,
)


def _json_handler() -> falcon.media.JSONHandler:
    dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    return falcon.media.JSONHandler(dumps=dumps, loads=json.loads)


def _routes(context: ApiContext) -> dict[str, object]:
    config, langs = context.config, context.languages
    documentation = docs.Docs(config)
    return {
        "/": playground.Home(config, docs.Home(config, documentation)),
        "/docs": documentation,
        "/docs.html": documentation,
        "/openapi.json": docs.OpenApi(config),
        "/dummy-client.html": dummy_client.DummyClient(),
        "/authenticate": info.Authenticate(),
        "/authorize": info.Authorize(),
        "/submissions": submissions.Submissions(context),
        "/submissions/batch": batch.Batch(context),
        "/submissions/batch/ws": events.BatchSocket(context),
        "/submissions/{token}": submissions.Submission(context),
        "/submissions/{token}/events": events.SubmissionEvents(context),
        "/submissions/{token}/ws": events.SubmissionSocket(context),
        "/problems": problems.Problems(context),
        "/problems/{slug}": problems.Problem(context),
        "/statuses": catalog.Statuses(),
        "/languages": catalog.Languages(langs),
        "/languages/all": catalog.AllLanguages(langs),
        "/languages/{language_id}": catalog.Language(langs),
        "/config_info": info.ConfigInfo(config),
        "/statistics": info.StatisticsResource(context),
        "/workers": info.Workers(context),
        "/metrics": metrics.Metrics(context),
        "/system_info": info.SystemInfo(),
        "/about": info.About(config),
        "/version": info.Version(config),
        "/isolate": info.Isolate(),
        "/license": info.License(),
    }


class Lifespan:
    """Connects the context when the server starts serving, closes it when it stops."""

    def __init__(self, context: ApiContext):
        self.context = context

    async def process_startup(self, scope: dict, event: dict) -> None:
        await self.context.open()

    async def process_shutdown(self, scope: dict, event: dict) -> None:
        await self.context.close()


class AccessLog:
    """A line per request (judge/logs.py: access), after it is answered; ACCESS_LOG=false
    turns them off. uvicorn's own access lines are off: they carry the query string, which
    may hold a token, and no duration."""

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.started = time.perf_counter()

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                               resource: object, req_succeeded: bool) -> None:
        logs.access(req.remote_addr, req.method, req.path, resp.status_code,
                    time.perf_counter() - req.context.started)


def create_app(context: ApiContext) -> falcon.asgi.App:
    # LOG_FORMAT / LOG_LEVEL for this process, gunicorn's error and access logs included
    logs.configure(context.config.log_format, context.config.log_level)
    middleware = [Lifespan(context), Cors(context.config), AccessControl(context.config),
                  RateLimit(context.config, context.queue.redis)]
    if context.config.access_log:
        middleware.insert(1, AccessLog())
    app = falcon.asgi.App(media_type=falcon.MEDIA_JSON, middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    handler = _json_handler()
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers["application/json; charset=utf-8"] = handler
    errors.install(app)

    for path, resource in _routes(context).items():
        if hasattr(resource, "on_get") and not hasattr(resource, "on_head"):
            resource.on_head = resource.on_get  # Rails answers HEAD on every GET route
        app.add_route(path, resource)
        if not path.endswith(("}", ".json", ".html", "/ws", "/events")) and path != "/":
            app.add_route(path + ".json", resource)  # a {param} strips its own suffix
    return app
