"""The bare side of bench/front.py: the least an ASGI app can do for the same requests, served
by the same gunicorn and uvicorn (uvloop, httptools) with as many processes as the engine.

    GET  /statuses        a fixed JSON list (the engine's is a constant too)
    POST /submissions     reads the body, answers 201 {"token": <uuid>}
    GET  /hold            answers only after HOLD_SECONDS (a waiting client)
    GET  /events?at=T     an SSE stream whose one event is sent at unix time T (a verdict
                          known in the process at T: no Redis, no database)

    gunicorn bench.bare_asgi:app -k uvicorn_worker.UvicornWorker
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from urllib.parse import parse_qs

HOLD_SECONDS = float(os.environ.get("BARE_HOLD_SECONDS", "60"))
STATUSES = json.dumps([{"id": 1, "description": "In Queue"},
                       {"id": 3, "description": "Accepted"}]).encode()


async def _answer(send, status: int, body: bytes, kind: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _body(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path, method = scope["path"], scope["method"]
    if path == "/statuses":
        await _answer(send, 200, STATUSES)
    elif path == "/submissions" and method == "POST":
        await _body(receive)
        await _answer(send, 201, json.dumps({"token": str(uuid.uuid4())}).encode())
    elif path == "/hold":
        await asyncio.sleep(HOLD_SECONDS)
        await _answer(send, 200, b"{}")
    elif path == "/events":
        at = float(parse_qs(scope["query_string"].decode())["at"][0])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await asyncio.sleep(max(at - time.time(), 0))
        await send({"type": "http.response.body", "body": b"event: final\ndata: {}\n\n",
                    "more_body": False})
    else:
        await _answer(send, 404, b"{}")
