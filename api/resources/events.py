"""Live events of submissions (beyond Judge0): no polling for a verdict.

* ``GET /submissions/{token}/events``: Server-Sent Events. ``status`` (In Queue, Processing),
  ``compiled``, ``test_case`` and ``final``, whose data is the submission as ``GET
  /submissions/{token}`` renders it (``fields``, ``base64_encoded``). Each event carries its
  id; a client reconnecting with ``Last-Event-ID`` (or ``?last_event_id=``) gets only what
  came after. Once the final event is sent the stream ends; asked to resume after it, the
  answer is 204, which tells an EventSource to stop reconnecting.
* ``GET /submissions/{token}/ws``: the same events on a WebSocket, one JSON message each
  (``{"event", "id", "token", "data"}``), closed with 1000 after the final one.
* ``GET /submissions/batch/ws?tokens=a,b``: several submissions on one WebSocket, closed once
  every one is final.

Access is GET's: the IP filter and the authentication token (header, or the query string for
a WebSocket), no authorization token. Unknown tokens are 404 (a WebSocket is refused).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import falcon
import falcon.asgi
from falcon.asgi import SSEvent

from judge import events
from judge.contract.statuses import Status
from judge.contract.submission import fields as attributes
from judge.contract.submission import render
from judge.events import Event
from judge.timeline import Timeline

from .. import params
from .batch import split_tokens
from .submissions import Base

PING_SECONDS = 15.0  # a comment (SSE) or a ping (WebSocket) keeps proxies from closing


class _Live(Base):
    def _wanted(self, resp: falcon.asgi.Response | None, q: dict[str, str]
                ) -> tuple[list[str], bool] | None:
        """The final event's `fields` and `base64_encoded`; None after answering 400 (or, for
        a WebSocket, with no `resp` to answer on, for the caller to refuse)."""
        fields = self._fields(resp, q.get("fields")) if resp is not None else \
            attributes.select_fields(q.get("fields"), self.config.master_star_fields)
        if fields is None or isinstance(fields, str):
            return None
        return fields, attributes.effective_base64(q.get("base64_encoded"), self.config)

    async def _data(self, token: str, event: Event, fields: list[str], base64: bool
                    ) -> dict[str, Any]:
        """What the client reads of an event: the status, or for the final event the
        submission itself, as GET renders it."""
        if event.kind == events.STATUS:
            return {"token": token, "status": Status(event.data["status_id"]).as_json()}
        if event.kind != events.FINAL:
            return {"token": token, **event.data}
        row = None if event.data.get("deleted") else await self.ctx.storage.get_submission(token)
        if row is None:
            return {"token": token, "error": "the submission was deleted"}
        try:
            return render.serialize(row, fields, base64, self.ctx.languages)
        except render.Utf8Error:
            return {"error": render.UTF8_ERROR_SINGLE, "token": token}

    async def _timeline(self, stack: contextlib.AsyncExitStack, tokens: list[str],
                        after: str | None) -> Timeline:
        listener = await stack.enter_async_context(self.ctx.hub.listen(tokens))
        after_of = {tokens[0]: after} if len(tokens) == 1 else {}
        return Timeline(self.ctx.hub, self.ctx.storage, listener, after_of)


class SubmissionEvents(_Live):
    """``GET /submissions/{token}/events``."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                     token: str) -> None:
        wanted = self._wanted(resp, params.query(req))
        if wanted is None:
            return
        if await self.ctx.storage.get_submission(token) is None:
            raise falcon.HTTPNotFound()
        after = req.get_header("Last-Event-ID") or req.get_param("last_event_id")
        stack = contextlib.AsyncExitStack()
        try:
            timeline = await self._timeline(stack, [token], after)
            caught = await timeline.catch_up()
        except BaseException:
            await stack.aclose()
            raise
        if not caught and timeline.done:  # resumed after the final event: nothing will come
            await stack.aclose()
            resp.status = falcon.HTTP_204
            return
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("X-Accel-Buffering", "no")  # nginx: pass each event on at once
        resp.sse = self._stream(stack, timeline, caught, *wanted)

    async def _stream(self, stack: contextlib.AsyncExitStack, timeline: Timeline,
                      caught: list[tuple[str, Event]], fields: list[str], base64: bool
                      ) -> AsyncIterator[SSEvent]:
        async with stack:
            for token, event in caught:
                yield await self._sse(token, event, fields, base64)
            async for heard in timeline.live(PING_SECONDS):
                if heard is None:
                    yield SSEvent(comment="ping")
                else:
                    yield await self._sse(*heard, fields, base64)

    async def _sse(self, token: str, event: Event, fields: list[str], base64: bool) -> SSEvent:
        return SSEvent(event=event.kind, event_id=event.id or None,
                       json=await self._data(token, event, fields, base64))


class _Socket(_Live):
    async def _serve(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket,
                     tokens: list[str]) -> None:
        q = params.query(req)
        wanted = self._wanted(None, q)
        if wanted is None:
            raise falcon.HTTPBadRequest(description=attributes.parse_fields(q.get("fields")))
        rows = await self.ctx.storage.get_many(tokens)
        if any(row is None for row in rows):
            raise falcon.HTTPNotFound()
        await ws.accept()
        try:
            async with contextlib.AsyncExitStack() as stack:
                timeline = await self._timeline(stack, tokens, q.get("last_event_id"))
                for token, event in await timeline.catch_up():
                    await self._send(ws, token, event, *wanted)
                async for heard in timeline.live(PING_SECONDS):
                    if heard is None:
                        await ws.send_media({"event": "ping"})
                    else:
                        await self._send(ws, *heard, *wanted)
            await ws.close(1000)
        except falcon.errors.WebSocketDisconnected:
            return  # the client went away: its listener is gone with the stack

    async def _send(self, ws: falcon.asgi.WebSocket, token: str, event: Event,
                    fields: list[str], base64: bool) -> None:
        await ws.send_media({"event": event.kind, "id": event.id or None, "token": token,
                             "data": await self._data(token, event, fields, base64)})


class SubmissionSocket(_Socket):
    """``GET /submissions/{token}/ws``."""

    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket,
                           token: str) -> None:
        await self._serve(req, ws, [token])


class BatchSocket(_Socket):
    """``GET /submissions/batch/ws?tokens=a,b,c``."""

    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        tokens = list(dict.fromkeys(split_tokens(req.get_header("tokens"),
                                                  params.query(req).get("tokens"))))
        if not tokens or len(tokens) > self.config.max_submission_batch_size:
            raise falcon.HTTPBadRequest(
                description="tokens: between 1 and "
                            f"{self.config.max_submission_batch_size} submission tokens")
        await self._serve(req, ws, tokens)

