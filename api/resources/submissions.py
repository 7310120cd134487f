"""POST/GET /submissions and GET/DELETE /submissions/{token} (§3.1–§3.4, §5)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import falcon
import falcon.asgi

from judge.context import ApiContext
from judge.contract.statuses import Status
from judge.contract.submission import fields as attributes
from judge.contract.submission import render
from judge.intake import accept, accept_waiting, parse_submission, queue_is_full

from .. import paging, params
from ..errors import error_response, set_json
from .catalog import strip_format

log = logging.getLogger(__name__)


class Base:
    def __init__(self, context: ApiContext):
        self.ctx = context
        self.config = context.config

    def _fields(self, resp: falcon.asgi.Response, raw: Any) -> list[str] | None:
        """Parsed `fields` (judge/contract/submission/fields.py: select_fields), or None after
        answering 400 `invalid fields: [...]`."""
        selected = attributes.select_fields(raw, self.config.master_star_fields)
        if isinstance(selected, str):
            error_response(resp, 400, selected)
            return None
        return selected

    def _render_many(self, rows: Iterable[Mapping[str, Any] | None], fields: list[str],
                     base64: bool) -> list[dict[str, Any] | None] | None:
        """Serialized rows (None stays None), or None if one of them hits the UTF-8 rule."""
        try:
            return [None if row is None else
                    render.serialize(row, fields, base64, self.ctx.languages)
                    for row in rows]
        except render.Utf8Error:
            return None


class Submissions(Base):
    authorize = frozenset({"GET"})
    maintenance = frozenset({"POST"})
    rate_limited = frozenset({"POST"})

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        p = await params.merged(req, self.config.max_request_body)
        wait = p.get("wait") == "true"
        if wait and not self.config.enable_wait_result:
            return error_response(resp, 400, "wait not allowed")
        if await queue_is_full(self.ctx, 1):
            return error_response(resp, 503, "queue is full")
        fields = self._fields(resp, p.get("fields"))
        if fields is None:
            return None
        base64 = attributes.effective_base64(p.get("base64_encoded"), self.config)
        attrs, errors = await parse_submission(self.ctx, p, base64)
        if errors:
            return set_json(resp, 422, errors)
        if not wait:
            return set_json(resp, 201, {"token": await accept(self.ctx, attrs)})
        token, = await accept_waiting(self.ctx, [attrs])
        row = await self.ctx.storage.get_submission(token)
        try:
            body = render.serialize(row, fields, base64, self.ctx.languages)
        except render.Utf8Error:
            body = {"error": render.UTF8_ERROR_SINGLE, "token": token}
        set_json(resp, 201, body)

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """The list, newest first, paginated only through `meta` (§3.3)."""
        q = await params.merged(req, self.config.max_request_body)
        fields = self._fields(resp, q.get("fields"))
        if fields is None:
            return
        wanted = paging.requested(q)
        if isinstance(wanted, str):
            return error_response(resp, 400, wanted)
        page, per_page = wanted
        rows, total = await paging.fetch(page, per_page, self.ctx.storage.list_submissions)
        base64 = attributes.effective_base64(q.get("base64_encoded"), self.config)
        items = self._render_many(rows, fields, base64)
        if items is None:
            return error_response(resp, 400, render.UTF8_ERROR_MULTIPLE)
        set_json(resp, 200, {"submissions": items, "meta": paging.meta(page, per_page, total)})


class Submission(Base):
    authorize = frozenset({"DELETE"})
    maintenance = frozenset({"DELETE"})

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                     token: str) -> None:
        q = params.query(req)
        fields = self._fields(resp, q.get("fields"))
        if fields is None:
            return
        row = await self.ctx.storage.get_submission(strip_format(token))
        if row is None:
            raise falcon.HTTPNotFound()
        base64 = attributes.effective_base64(q.get("base64_encoded"), self.config)
        try:
            set_json(resp, 200, render.serialize(row, fields, base64, self.ctx.languages))
        except render.Utf8Error:
            error_response(resp, 400, render.UTF8_ERROR_SINGLE)

    async def on_delete(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                        token: str) -> None:
        """Delete a finished submission; the deleted one comes back, always base64 (§3.4)."""
        q = await params.merged(req, self.config.max_request_body)
        fields = self._fields(resp, q.get("fields"))
        if fields is None:
            return
        if not self.config.enable_submission_delete:
            return error_response(resp, 400, "delete not allowed")
        row = await self.ctx.storage.get_submission(strip_format(token))
        if row is None:
            raise falcon.HTTPNotFound()
        if row["status_id"] in (Status.IN_QUEUE, Status.PROCESSING):
            status = Status(row["status_id"])
            return error_response(resp, 400, "submission cannot be deleted because its status "
                                             f"is {int(status)} ({status.description})")
        deleted = await self.ctx.storage.delete_submission(row["token"])
        if deleted is None:  # deleted by a concurrent request
            raise falcon.HTTPNotFound()
        set_json(resp, 200, render.serialize(deleted, fields, True, self.ctx.languages))
