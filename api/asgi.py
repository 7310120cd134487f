"""ASGI entry point for gunicorn: `gunicorn api.asgi:application -k api.server.Worker`.

Each gunicorn worker process builds its own context (database pool, Redis connections, the
live-event hub) from the environment and `judge0.conf` when it imports this module; they
connect when the server starts serving (api/app.py: Lifespan).
"""

from judge.config import Config
from judge.context import ApiContext

from .app import create_app

application = create_app(ApiContext.create(Config.load()))
