"""The body of POST and PUT /problems: JSON, or multipart/form-data with the problem's JSON
in the part `problem` and a zip of its tests in the part `tests`.

Falcon's ASGI multipart parser streams the parts: the zip goes chunk by chunk into a spooled
temporary file (memory for a small one, disk past SPOOL_BYTES), never whole in memory. Its
bound is PROBLEM_MAX_SIZE, this route's body limit, beyond the other routes'
MAX_REQUEST_BODY_SIZE; the JSON (a JSON body, the `problem` part) keeps that one, since it
is parsed in memory: large test sets come as a zip.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

import falcon
import falcon.asgi

from judge.config import Config
from judge.contract.submission.rules import Errors

from . import params

SPOOL_BYTES = 1024 * 1024
READ_BYTES = 64 * 1024
PARTS = ("problem", "tests")


@dataclass
class Upload:
    problem: Any = None                     # the decoded JSON
    tests: IO[bytes] | None = None          # the zip, rewound
    errors: Errors = field(default_factory=dict)

    def close(self) -> None:
        if self.tests is not None:
            self.tests.close()


async def read_upload(req: falcon.asgi.Request, config: Config) -> Upload:
    """The problem and its zip, if any; `errors` says what the client must fix in the
    parts. 413 past the size limits, 400 for a body that is not JSON or not multipart."""
    if params.content_type(req) != params.MULTIPART:
        return Upload(await params.body_params(req, config.max_request_body))
    tests_limit = config.problem_max_size * 1024
    if req.content_length is not None and \
            req.content_length > tests_limit + config.max_request_body:
        raise _too_large("request body", tests_limit + config.max_request_body)
    upload = Upload()
    try:
        form = await req.get_media()
        async for part in form:
            await _take(upload, part, config)
    except BaseException:
        upload.close()
        raise
    if upload.problem is None and "problem" not in upload.errors:
        upload.errors["problem"] = ["is missing: send the problem's JSON in a part named "
                                    "problem"]
    return upload


async def _take(upload: Upload, part: Any, config: Config) -> None:
    name = part.name
    if name not in PARTS:
        upload.errors.setdefault(name or "(unnamed part)", []).append(
            "is not a part of a problem: send problem (JSON) and tests (a zip)")
        return
    if (upload.problem if name == "problem" else upload.tests) is not None:
        upload.errors.setdefault(name, []).append("is sent twice")
        return
    if name == "problem":
        data = await _read(part.stream, config.max_request_body, "problem part")
        try:
            upload.problem = json.loads(data)
        except (ValueError, RecursionError) as e:
            upload.problem = {}
            upload.errors["problem"] = [f"is not JSON ({e})"]
        return
    upload.tests = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    size, limit = 0, config.problem_max_size * 1024
    while chunk := await part.stream.read(READ_BYTES):
        size += len(chunk)
        if size > limit:
            raise _too_large("tests zip", limit, "PROBLEM_MAX_SIZE")
        upload.tests.write(chunk)
    upload.tests.seek(0)


async def _read(stream: Any, limit: int, what: str) -> bytes:
    data = await stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(what, limit)
    return data


def _too_large(what: str, limit: int, setting: str = "MAX_REQUEST_BODY_SIZE") -> falcon.HTTPError:
    return falcon.HTTPContentTooLarge(
        description=f"the {what} is larger than the {limit} bytes this server accepts "
                    f"({setting})")
