"""POST /submissions and GET /submissions/{token} (§3.1, §3.2, §5)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import falcon
import redis

from judge import submission
from judge.context import AppContext

from .. import params
from ..errors import error_response, set_json
from .catalog import strip_format

log = logging.getLogger(__name__)


def canonical_token(raw: str) -> str | None:
    """Tokens are lowercase UUID4 strings matched exactly; anything else is unknown."""
    token = strip_format(raw)
    try:
        return token if str(uuid.UUID(token)) == token else None
    except ValueError:
        return None


class _Base:
    def __init__(self, context: AppContext):
        self.ctx = context
        self.config = context.config

    def _fields(self, resp: falcon.Response, raw: str | None) -> list[str] | None:
        """Parsed `fields`, or None after answering 400 `invalid fields: [...]`."""
        parsed = submission.parse_fields(raw)
        if isinstance(parsed, str):
            error_response(resp, 400, parsed)
            return None
        return parsed


class Submissions(_Base):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        p = params.merged(req, self.config.max_request_body)
        wait = p.get("wait") == "true"
        if wait and not self.config.enable_wait_result:
            return error_response(resp, 400, "wait not allowed")
        if self.ctx.storage.count_pending() + 1 > self.config.max_queue_size:
            return error_response(resp, 503, "queue is full")
        fields = self._fields(resp, p.get("fields"))
        if fields is None:
            return None
        base64 = submission.effective_base64(p.get("base64_encoded"), self.config)
        attrs, errors = submission.parse_create(p, base64, self.config, self.ctx.languages)
        if errors:
            return set_json(resp, 422, errors)
        token = self._accept(attrs)
        if not wait:
            return set_json(resp, 201, {"token": token})
        try:
            self.ctx.queue.wait_done(token, self.config.wait_timeout)
        except redis.exceptions.RedisError as e:  # answer with the submission as it stands
            log.warning("cannot wait for %s, the queue is unavailable: %s", token, e)
        row = self.ctx.storage.get_submission(token)
        try:
            body = submission.serialize(row, fields, base64, self.ctx.languages)
        except submission.Utf8Error:
            body = {"error": submission.UTF8_ERROR_SINGLE, "token": token}
        set_json(resp, 201, body)

    def _accept(self, attrs: dict[str, Any]) -> str:
        """Store the submission, then queue it. Postgres is the source of truth: if Redis is
        down the submission is still accepted and the reconciler queues it later."""
        token = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC)
        row = {**attrs, "token": token, "status_id": 1, "created_at": now, "updated_at": now,
               "queued_at": now, "queue_host": self.config.hostname}
        self.ctx.storage.insert_submission(row)
        try:
            self.ctx.queue.enqueue(token)
        except redis.exceptions.RedisError as e:
            log.warning("submission %s stored but not queued (%s); the reconciler will queue it",
                        token, e)
        return token


class Submission(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        q = params.query(req)
        fields = self._fields(resp, q.get("fields"))
        if fields is None:
            return
        token = canonical_token(token)
        row = self.ctx.storage.get_submission(token) if token else None
        if row is None:
            raise falcon.HTTPNotFound()
        base64 = submission.effective_base64(q.get("base64_encoded"), self.config)
        try:
            set_json(resp, 200, submission.serialize(row, fields, base64, self.ctx.languages))
        except submission.Utf8Error:
            error_response(resp, 400, submission.UTF8_ERROR_SINGLE)
