"""POST and GET /submissions/batch (§7).

Beyond Judge0 (its users ask for it in judge0/judge0#551): ``wait=true`` on batch create
waits, up to WAIT_RESULT_TIMEOUT seconds in all, for the accepted items to finish, and answers
with them serialized as a waiting single create would (``fields``, ``base64_encoded``); items
that failed validation keep their error hash in place. Without ``wait`` (or with
ENABLE_WAIT_RESULT=false) the answer is Judge0's list of tokens and error hashes.
"""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi

from judge.contract.submission import fields as attributes
from judge.contract.submission import render
from judge.intake import accept, accept_waiting, parse_submission, queue_is_full

from .. import params
from ..errors import error_response, set_json
from .submissions import Base

NOT_ALLOWED = "batched submissions are not allowed"
EMPTY = "there should be at least one submission in a batch"


class Batch(Base):
    rate_limited = frozenset({"POST"})

    def _too_many(self) -> str:
        return ("number of submissions in a batch should be less than or equal to "
                f"{self.config.max_submission_batch_size}")

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if not self.config.enable_batched_submissions:
            return error_response(resp, 400, NOT_ALLOWED)
        p = await params.merged(req, self.config.max_request_body)
        items = p.get("submissions")
        items = items if isinstance(items, list) else []
        if await queue_is_full(self.ctx, len(items)):
            return error_response(resp, 503, "queue is full")
        if len(items) > self.config.max_submission_batch_size:
            return error_response(resp, 400, self._too_many())
        if not items:
            return error_response(resp, 400, EMPTY)
        wait = p.get("wait") == "true" and self.config.enable_wait_result
        fields = self._fields(resp, p.get("fields")) if wait else None
        if wait and fields is None:
            return None
        base64 = attributes.effective_base64(p.get("base64_encoded"), self.config)
        parsed = [await parse_submission(self.ctx, item if isinstance(item, dict) else {},
                                         base64)
                  for item in items]  # each item is validated and stored on its own
        valid = [attrs for attrs, errors in parsed if not errors]
        if wait:
            tokens = iter(await accept_waiting(self.ctx, valid))
        else:
            tokens = iter([await accept(self.ctx, attrs) for attrs in valid])
        results: list[dict[str, Any]] = [errors if errors else {"token": next(tokens)}
                                         for _, errors in parsed]
        if wait and valid:
            results = await self._finished(results, fields, base64)
        set_json(resp, 201 if valid else 422, results)

    async def _finished(self, results: list[dict[str, Any]], fields: list[str] | None,
                        base64: bool) -> list[dict[str, Any]]:
        """The accepted items serialized as they are now (finished, or the wait is over)."""
        tokens = [result["token"] for result in results if "token" in result]
        rows = dict(zip(tokens, await self.ctx.storage.get_many(tokens), strict=True))
        finished = []
        for result in results:
            row = rows.get(result.get("token"))
            if row is None:  # an error hash (or a row deleted meanwhile): as it was
                finished.append(result)
                continue
            try:
                finished.append(render.serialize(row, fields, base64, self.ctx.languages))
            except render.Utf8Error:
                finished.append({"error": render.UTF8_ERROR_SINGLE, "token": row["token"]})
        return finished

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if not self.config.enable_batched_submissions:
            return error_response(resp, 400, NOT_ALLOWED)
        q = await params.merged(req, self.config.max_request_body)
        fields = self._fields(resp, q.get("fields"))
        if fields is None:
            return
        tokens = split_tokens(req.get_header("tokens"), q.get("tokens"))
        if len(tokens) > self.config.max_submission_batch_size:
            return error_response(resp, 400, self._too_many())
        if not tokens:
            return error_response(resp, 400, EMPTY)
        base64 = attributes.effective_base64(q.get("base64_encoded"), self.config)
        items = self._render_many(await self.ctx.storage.get_many(tokens), fields, base64)
        if items is None:
            return error_response(resp, 400, render.UTF8_ERROR_MULTIPLE)
        set_json(resp, 200, {"submissions": items})


def split_tokens(header: str | None, param: Any) -> list[str]:
    """The `tokens` header, else the parameter: trimmed, split on "," with Ruby's rule
    (trailing empty items dropped); the tokens themselves are not trimmed, so " x" is
    unknown."""
    raw = header if header is not None else param
    tokens = (raw if isinstance(raw, str) else "").strip().split(",")
    while tokens and tokens[-1] == "":
        tokens.pop()
    return tokens
