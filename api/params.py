"""Request parameters the way Rails merges them for Judge0: JSON or form body, overridden by
the query string. A JSON body sent without a JSON content type is ignored, as in Judge0; a
multipart body is not read here (POST /problems streams its parts)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import falcon
import falcon.asgi

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


async def read_body(req: falcon.asgi.Request, max_bytes: int) -> bytes:
    """The raw body, refusing (413) anything larger than `max_bytes`. (How long the client
    may take to send it is the server's business: api/guard.py.)"""
    if req.content_length is not None and req.content_length > max_bytes:
        raise falcon.HTTPContentTooLarge(
            description=f"request body is larger than the {max_bytes} bytes this server accepts")
    data = await req.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise falcon.HTTPContentTooLarge(
            description=f"request body is larger than the {max_bytes} bytes this server accepts")
    return data


_NOT_READ = object()


async def body_params(req: falcon.asgi.Request, max_bytes: int) -> Any:
    """The decoded body: a dict for a JSON object or a form, the raw JSON value for other JSON
    (arrays, strings...), {} for an empty body or another content type.

    Decoded once per request and kept on ``req.context``: the access checks may read a token
    from the body before the resource reads its parameters."""
    cached = getattr(req.context, "body_params", _NOT_READ)
    if cached is _NOT_READ and content_type(req) == MULTIPART:
        return {}  # no parameters: the parts are the resource's to stream (api/uploads.py)
    if cached is _NOT_READ:
        cached = req.context.body_params = _decode_body(req, await read_body(req, max_bytes))
    return cached


def content_type(req: falcon.asgi.Request) -> str:
    """The media type alone, lowercase: `multipart/form-data`, not its boundary."""
    return (req.content_type or "").split(";")[0].strip().lower()


def _decode_body(req: falcon.asgi.Request, data: bytes) -> Any:
    kind = content_type(req)
    if not data.strip():
        return {}
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise falcon.HTTPBadRequest() from None  # Judge0: 400, body per the Accept rule
    if kind == FORM:
        return dict(parse_qsl(data.decode("utf-8", errors="replace"), keep_blank_values=True))
    return {}


async def merged(req: falcon.asgi.Request, max_bytes: int) -> dict[str, Any]:
    """Body parameters overridden by query parameters of the same name."""
    body = await body_params(req, max_bytes)
    params = dict(body) if isinstance(body, dict) else {}
    params.update(query(req))
    return params


def query(req: falcon.asgi.Request) -> dict[str, str]:
    """Query parameters; a repeated key keeps its last value, as Rails does."""
    return {key: value[-1] if isinstance(value, list) else value
            for key, value in req.params.items()}
