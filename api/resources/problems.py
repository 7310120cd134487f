"""POST/GET /problems and GET/PUT/DELETE /problems/{slug}: problems with stored test cases
(issue 19, docs/problems.md).

Writes need the authorization token (without AUTHZ_TOKEN they are always 403); reads are
open, but the stdin and expected output of hidden cases, and the sources of a custom checker
and an interactor, are only for the token's holder. A write validates everything before it
stores anything, in the order that costs least first: the body, the zip, the slug's
existence, then the compilation of a custom checker or an interactor through the fleet.
"""

from __future__ import annotations

import asyncio
import logging

import falcon
import falcon.asgi

from judge.context import ApiContext
from judge.contract.problem import SLUG, parse_problem
from judge.contract.problem_view import NotText, document, shows_data, summary
from judge.contract.submission.fields import effective_base64
from judge.contract.wire import ruby_to_i
from judge.problems.draft import ProblemDraft
from judge.problems.package import PackageError, read_tests
from judge.problems.probe import ProbeUnavailable, compile_errors
from judge.store.problems import ProblemExists, StoredProblem

from .. import paging, params
from ..access import authorized
from ..errors import error_response, set_json
from ..uploads import Upload, read_upload
from . import problem_data
from .catalog import strip_format

log = logging.getLogger(__name__)
WRITES = frozenset({"POST", "PUT", "DELETE"})
MAX_VERSION = 2**31 - 1  # problem_versions.version is an integer


class Base:
    def __init__(self, context: ApiContext):
        self.ctx = context
        self.config = context.config
        self.store = context.problems

    def _base64(self, req: falcon.asgi.Request, body: object = None) -> bool:
        """The effective base64_encoded: the query's, else the problem JSON's (as for a
        submission, the query wins)."""
        given = params.query(req).get("base64_encoded")
        if given is None and isinstance(body, dict):
            given = body.get("base64_encoded")
        return effective_base64(given, self.config)

    async def _draft(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                     upload: Upload, slug: str | None) -> ProblemDraft | None:
        """The validated draft, or None after answering 422 (400/413 are raised)."""
        errors = dict(upload.errors)
        tests = None
        if upload.tests is not None:
            limit = self.config.problem_max_size * 1024
            try:
                tests = await asyncio.to_thread(read_tests, upload.tests, limit)
            except PackageError as e:
                errors["tests"], tests = [str(e)], []
        ignored = (self.config.authn_header, self.config.authz_header, "base64_encoded")
        draft, found = parse_problem(upload.problem, self._base64(req, upload.problem),
                                     self.config, tests, ignored, slug)
        errors = {**found, **errors}
        if errors:
            set_json(resp, 422, errors)
            return None
        return draft

    async def _compiles(self, resp: falcon.asgi.Response, draft: ProblemDraft) -> bool:
        """Whether the custom checker and the interactor compile; else answered (422, 503)."""
        try:
            errors = await compile_errors(self.ctx, draft)
        except ProbeUnavailable as e:
            error_response(resp, 503, str(e))
            resp.retry_after = 5
            return False
        if errors:
            set_json(resp, 422, errors)
        return not errors

    def _written(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, status: int,
                 stored: StoredProblem) -> None:
        """The stored version, cases without their data (the writer sent it)."""
        set_json(resp, status, document(stored, authorized=False,
                                        base64_encoded=self._base64(req)))


class Problems(Base):
    authorize = frozenset({"POST"})
    maintenance = frozenset({"POST"})

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        upload = await read_upload(req, self.config)
        try:
            draft = await self._draft(req, resp, upload, None)
            if draft is None:
                return
            if await self.store.exists(draft.slug):
                return _taken(resp, draft.slug)
            if not await self._compiles(resp, draft):
                return
            try:
                stored = await self.store.create(draft)
            except ProblemExists:  # created meanwhile by another request
                return _taken(resp, draft.slug)
        finally:
            upload.close()
        log.info("problem %s created (%d cases, %d bytes)", draft.slug, len(draft.cases),
                 draft.total_bytes)
        self._written(req, resp, 201, stored)

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """The list by slug, paginated like GET /submissions."""
        wanted = paging.requested(await params.merged(req, self.config.max_request_body))
        if isinstance(wanted, str):
            return error_response(resp, 400, wanted)
        page, per_page = wanted
        rows, total = await paging.fetch(page, per_page, self.store.list_problems)
        set_json(resp, 200, {"problems": [summary(row) for row in rows],
                             "meta": paging.meta(page, per_page, total)})


class Problem(Base):
    authorize = WRITES - {"POST"}
    maintenance = WRITES - {"POST"}

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                     slug: str) -> None:
        """A version (the current one, or `?version=N`), with the test data the client may
        see, streamed."""
        raw = params.query(req).get("version")
        version = None if raw is None else ruby_to_i(raw)
        if version is not None and version < 1:
            return error_response(resp, 400, f"invalid version: {raw}")
        stored = None if version is not None and version > MAX_VERSION else \
            await self.store.get(_slug(slug), version)
        if stored is None:
            raise falcon.HTTPNotFound()
        holder, base64_encoded = await authorized(req, self.config), self._base64(req)
        shown = [case for case in stored.version.cases if shows_data(case, holder)]
        try:
            head = document(stored, holder, base64_encoded)
            if shown and not base64_encoded:
                await problem_data.check_text(
                    self.store, [digest for case in shown
                                 for digest in (case.input_hash, case.output_hash)])
        except NotText as e:
            return error_response(resp, 400, str(e))
        if not shown:
            return set_json(resp, 200, head)
        resp.status, resp.content_type = 200, falcon.MEDIA_JSON + "; charset=utf-8"
        resp.stream = problem_data.body(self.store, head, stored.version.cases, holder,
                                        base64_encoded)

    async def on_put(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                     slug: str) -> None:
        """A new version, made current; the previous ones stay for their submissions."""
        slug = _slug(slug)
        if not await self.store.exists(slug):
            raise falcon.HTTPNotFound()
        upload = await read_upload(req, self.config)
        try:
            draft = await self._draft(req, resp, upload, slug)
            if draft is None:
                return
            if not await self._compiles(resp, draft):
                return
            stored = await self.store.replace(draft)
        finally:
            upload.close()
        if stored is None:  # deleted meanwhile
            raise falcon.HTTPNotFound()
        log.info("problem %s: version %d", slug, stored.version.version)
        self._written(req, resp, 200, stored)

    async def on_delete(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                        slug: str) -> None:
        """The problem and its versions go; its submissions stay, without their version."""
        deleted = await self.store.delete(_slug(slug))
        if deleted is None:
            raise falcon.HTTPNotFound()
        log.info("problem %s deleted", deleted.slug)
        set_json(resp, 200, summary(deleted))


def _slug(segment: str) -> str:
    """The path's slug; 404 at once for one no problem can have (nor the database store)."""
    slug = strip_format(segment)
    if not SLUG.match(slug):
        raise falcon.HTTPNotFound()
    return slug


def _taken(resp: falcon.asgi.Response, slug: str) -> None:
    error_response(resp, 409, f"problem {slug} exists; PUT /problems/{slug} makes a new "
                              "version of it")
