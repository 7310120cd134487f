"""The gunicorn worker class that serves the ASGI app: uvicorn's, with our HTTP protocol.

`gunicorn api.asgi:application -k api.server.Worker` (judge/cli/up.py builds the whole
command). gunicorn stays the process manager (worker processes, graceful restarts, signals);
each worker runs one event loop (uvloop) in which every connection is a coroutine. HTTP goes
through api/guard.py (deadlines for slow clients, a connection cap per address); WebSockets
through the websockets library.
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker

from judge.config import Config

from .guard import ClientLimits, GuardedHttpToolsProtocol


class Worker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {  # noqa: RUF012 - uvicorn-worker's own class attribute
        "loop": "uvloop", "http": GuardedHttpToolsProtocol, "ws": "websockets-sansio",
        "lifespan": "on", "server_header": False, "access_log": False,  # api/app.py logs them
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        GuardedHttpToolsProtocol.limits = ClientLimits.from_config(Config.load())
