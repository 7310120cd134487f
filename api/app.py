"""The Falcon application: `create_app(context)` wires resources to their collaborators.

Serve it with gunicorn: `gunicorn 'api.wsgi:application'` (see `judge api`).

Request flow: CORS (answers preflights, as rack-cors does before Judge0's routing), then the
access checks (IP filter, authentication, authorization, maintenance; api/access.py), then the
resource. Routes and methods Judge0 does not have are 404, including the 405 and automatic
OPTIONS answers Falcon would give.
"""

from __future__ import annotations

import functools
import json

import falcon

from judge import logs
from judge.context import AppContext

from . import errors
from .access import AccessControl
from .cors import Cors
from .ratelimit import RateLimit
from .resources import (
    batch,
    catalog,
    docs,
    dummy_client,
    info,
    metrics,
    playground,
    submissions,
)


def _json_handler() -> falcon.media.JSONHandler:
    dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    return falcon.media.JSONHandler(dumps=dumps, loads=json.loads)


def _routes(context: AppContext) -> dict[str, object]:
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
        "/submissions/{token}": submissions.Submission(context),
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


def create_app(context: AppContext) -> falcon.App:
    # LOG_FORMAT / LOG_LEVEL for this process, gunicorn's error and access logs included
    logs.configure(context.config.log_format, context.config.log_level)
    app = falcon.App(media_type=falcon.MEDIA_JSON,
                     middleware=[Cors(context.config), AccessControl(context.config),
                                 RateLimit(context.config, context.queue.redis)])
    app.req_options.strip_url_path_trailing_slash = True
    handler = _json_handler()
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers["application/json; charset=utf-8"] = handler
    errors.install(app)

    for path, resource in _routes(context).items():
        if hasattr(resource, "on_get") and not hasattr(resource, "on_head"):
            resource.on_head = resource.on_get  # Rails answers HEAD on every GET route
        app.add_route(path, resource)
        if not path.endswith(("}", ".json", ".html")) and path != "/":
            app.add_route(path + ".json", resource)  # a {param} strips its own suffix
    return app
