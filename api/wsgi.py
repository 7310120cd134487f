"""WSGI entry point for gunicorn: `gunicorn api.wsgi:application`.

Each gunicorn worker process builds its own context (database pool, Redis connection) from the
environment and `judge0.conf` when it imports this module.
"""

from judge.config import Config
from judge.context import AppContext

from .app import create_app

application = create_app(AppContext.create(Config.load()))
