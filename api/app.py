"""The Falcon application: `create_app(context)` wires resources to their collaborators.

Serve it with gunicorn: `gunicorn 'api.wsgi:application'` (see `judge api`).
"""

from __future__ import annotations

import functools
import json

import falcon

from judge.context import AppContext

from . import errors
from .resources import catalog, submissions


def _json_handler() -> falcon.media.JSONHandler:
    dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    return falcon.media.JSONHandler(dumps=dumps, loads=json.loads)


def create_app(context: AppContext) -> falcon.App:
    app = falcon.App(media_type=falcon.MEDIA_JSON)
    app.req_options.strip_url_path_trailing_slash = True
    handler = _json_handler()
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers["application/json; charset=utf-8"] = handler
    errors.install(app)

    langs = context.languages
    routes = {
        "/statuses": catalog.Statuses(),
        "/languages": catalog.Languages(langs),
        "/languages/all": catalog.AllLanguages(langs),
        "/languages/{language_id}": catalog.Language(langs),
        "/submissions": submissions.Submissions(context),
        "/submissions/{token}": submissions.Submission(context),
    }
    for path, resource in routes.items():
        app.add_route(path, resource)
        if not path.endswith("}"):  # a {param} strips its own ".json" suffix
            app.add_route(path + ".json", resource)
    return app
