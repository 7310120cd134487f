"""Problems in PostgreSQL: their immutable versions, test cases and content-addressed test
data (judge/store/migrations/0004_problems.sql, docs/problems.md).

`ProblemStore` is the workers' (blocking, on a Storage's pool): a version by id, a blob
streamed chunk by chunk. `AsyncProblemStore` is the API's (on AsyncStorage's pool): the
current version for POST /submissions, and the writes and reads of /problems. A version is
never changed once written: an edit adds one and moves problems.current_version, so a
submission keeps the version it was given. Writers of blobs and the deletion of a problem
exclude each other with an advisory lock (writers share it), so that a blob being given a
new user is never removed as an orphan at the same moment.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO

import psycopg
from psycopg.types.json import Jsonb

from judge.problems.draft import CHUNK_SIZE, ProblemDraft
from judge.store import blobs
from judge.store.async_submissions import AsyncStorage
from judge.store.submissions import Storage

_BLOB_LOCK_KEY = 0x4A554447_424C4F42  # "JUDGBLOB": blob writers (shared) against deletion


class ProblemExists(ValueError):
    """POST for a slug that is taken."""


class MissingBlob(LookupError):
    """A hash the database holds no blob for (its problem was deleted meanwhile)."""


@dataclass(frozen=True)
class Case:
    index: int           # 1-based
    input_hash: str
    output_hash: str
    hidden: bool
    points: Decimal


@dataclass(frozen=True)
class ProblemVersion:
    id: int              # problem_versions.id
    slug: str
    version: int
    title: str
    limits: dict[str, Any]
    checker: dict[str, Any]             # a custom one's source_code as bytes (decoded)
    interactor: dict[str, Any] | None   # source_code as bytes (decoded), language_id
    files: dict[str, str]               # name -> blob hash
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class StoredProblem:
    """A version with what the API shows around it."""

    version: ProblemVersion
    current_version: int
    total_bytes: int
    created_at: dt.datetime      # the problem's
    updated_at: dt.datetime      # when its current version was made
    sizes: Mapping[str, int]     # blob hash -> bytes, for the version's cases and files


@dataclass(frozen=True)
class ProblemSummary:
    slug: str
    title: str
    version: int
    test_cases: int
    created_at: dt.datetime
    updated_at: dt.datetime


_CASES = """(SELECT coalesce(json_agg(json_build_array(c.idx, c.input_hash, c.output_hash,
                                                   c.hidden, c.points::text) ORDER BY c.idx),
                          '[]'::json)
            FROM problem_cases c WHERE c.version_id = v.id) AS cases"""
_SIZES = """(SELECT coalesce(json_object_agg(b.hash, b.size), '{}'::json) FROM blobs b
            WHERE b.hash IN (SELECT c.input_hash FROM problem_cases c WHERE c.version_id = v.id
                             UNION SELECT c.output_hash FROM problem_cases c
                                 WHERE c.version_id = v.id
                             UNION SELECT value FROM jsonb_each_text(v.files))) AS sizes"""
# (The queries are composed of the constant fragments above, never of input.)
_COLUMNS = "v.id, p.slug, v.version, v.title, v.limits, v.checker, v.interactor, v.files"
_VERSION_BY_ID = (f"SELECT {_COLUMNS}, {_CASES} FROM problem_versions v "  # noqa: S608
                  "JOIN problems p ON p.id = v.problem_id WHERE v.id = %s")
_STORED = f"""SELECT {_COLUMNS}, v.total_bytes, p.current_version, p.created_at,
                     p.updated_at, {_CASES}, {_SIZES} FROM problems p
              JOIN problem_versions v ON v.problem_id = p.id
              WHERE p.slug = %s AND v.version = coalesce(%s, p.current_version)"""  # noqa: S608
_CURRENT = """SELECT v.id, v.limits FROM problems p
              JOIN problem_versions v ON v.problem_id = p.id AND v.version = p.current_version
              WHERE p.slug = %s"""
_SUMMARIES = """SELECT p.slug, v.title, p.current_version AS version, p.created_at,
                       p.updated_at,
                       (SELECT count(*) FROM problem_cases c WHERE c.version_id = v.id)
                           AS test_cases
                FROM problems p
                JOIN problem_versions v ON v.problem_id = p.id
                    AND v.version = p.current_version"""
_PAGE = f"{_SUMMARIES} ORDER BY p.slug LIMIT %s OFFSET %s"
_SUMMARY = f"{_SUMMARIES} WHERE p.slug = %s"
_COUNT = "SELECT count(*) AS n FROM problems"
_CREATE = ("INSERT INTO problems (slug, current_version) VALUES (%s, 1) "
           "ON CONFLICT (slug) DO NOTHING RETURNING id")
_LOCK_PROBLEM = "SELECT id, current_version FROM problems WHERE slug = %s FOR UPDATE"
_INSERT_VERSION = """INSERT INTO problem_versions (problem_id, version, title, limits, checker,
                                                   interactor, files, total_bytes)
                     VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"""
_COPY_CASES = ("COPY problem_cases (version_id, idx, input_hash, output_hash, hidden, points) "
               "FROM STDIN")
_MOVE_CURRENT = "UPDATE problems SET current_version = %s, updated_at = now() WHERE id = %s"
_DELETE = "DELETE FROM problems WHERE id = %s"


def _decoded(program: Mapping[str, Any]) -> dict[str, Any]:
    """A checker or interactor with its stored base64 source_code as bytes."""
    if "source_code" not in program:
        return dict(program)
    return {**program, "source_code": base64.b64decode(program["source_code"])}


def _version(row: Mapping[str, Any]) -> ProblemVersion:
    return ProblemVersion(
        id=row["id"], slug=row["slug"], version=row["version"], title=row["title"],
        limits=row["limits"], checker=_decoded(row["checker"]),
        interactor=_decoded(row["interactor"]) if row["interactor"] is not None else None,
        files=row["files"],
        cases=tuple(Case(index, given, answer, hidden, Decimal(points))
                    for index, given, answer, hidden, points in row["cases"]))


def _stored(row: Mapping[str, Any]) -> StoredProblem:
    return StoredProblem(_version(row), row["current_version"], row["total_bytes"],
                         row["created_at"], row["updated_at"], row["sizes"])


class ProblemStore:
    """The workers' reads: blocking, on a Storage's pool."""

    def __init__(self, storage: Storage) -> None:
        self.pool = storage.pool

    def version(self, version_id: int) -> ProblemVersion | None:
        """The version, or None once its problem is deleted."""
        with self.pool.connection() as conn:
            row = conn.execute(_VERSION_BY_ID, (version_id,)).fetchone()
        return None if row is None else _version(row)

    def read_blob(self, digest: str, out: BinaryIO) -> int:
        """Write blob `digest` to `out` a chunk (1 MiB) at a time, as the rows arrive (one
        row in memory at once); the number of bytes. MissingBlob if there is none."""
        written = 0
        with self.pool.connection() as conn:
            row = conn.execute(blobs.SELECT_SIZE, (digest,)).fetchone()
            if row is None:
                raise MissingBlob(f"no test data with sha256 {digest}")
            for chunk in conn.cursor().stream(blobs.SELECT_CHUNKS, (digest,)):
                out.write(chunk["data"])
                written += len(chunk["data"])
        if written != row["size"]:  # deleted while we read it
            raise MissingBlob(f"test data {digest} ended after {written} of {row['size']} "
                              "bytes")
        return written


class AsyncProblemStore:
    """The API's: on AsyncStorage's pool."""

    def __init__(self, storage: AsyncStorage) -> None:
        self.pool = storage.pool

    async def current(self, slug: str) -> tuple[int, dict[str, Any]] | None:
        """(version id, limits) of the problem's current version, for POST /submissions."""
        row = await self._fetchone(_CURRENT, (slug,))
        return None if row is None else (row["id"], row["limits"])

    async def get(self, slug: str, version: int | None = None) -> StoredProblem | None:
        """Version `version` of the problem (its current one by default), or None."""
        row = await self._fetchone(_STORED, (slug, version))
        return None if row is None else _stored(row)

    async def exists(self, slug: str) -> bool:
        return await self._fetchone(_CURRENT, (slug,)) is not None

    async def list_problems(self, page: int, per_page: int
                            ) -> tuple[list[ProblemSummary], int]:
        """One page (1-based) of problems by slug, and how many there are."""
        async with self.pool.connection() as conn, conn.transaction():
            total = await (await conn.execute(_COUNT)).fetchone()
            cursor = await conn.execute(_PAGE, (per_page, (page - 1) * per_page))
            return [ProblemSummary(**row) for row in await cursor.fetchall()], total["n"]

    async def create(self, draft: ProblemDraft) -> StoredProblem:
        """Store a new problem at version 1; ProblemExists if the slug is taken."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_BLOB_LOCK_KEY,))
            row = await (await conn.execute(_CREATE, (draft.slug,))).fetchone()
            if row is None:
                raise ProblemExists(draft.slug)
            return await self._add_version(conn, row["id"], 1, draft)

    async def replace(self, draft: ProblemDraft) -> StoredProblem | None:
        """Add a version to the problem and make it current; None if there is no problem
        `draft.slug`. The previous versions stay, for the submissions that have them."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_BLOB_LOCK_KEY,))
            row = await (await conn.execute(_LOCK_PROBLEM, (draft.slug,))).fetchone()
            if row is None:
                return None
            return await self._add_version(conn, row["id"], row["current_version"] + 1,
                                           draft)

    async def delete(self, slug: str) -> ProblemSummary | None:
        """Delete the problem, every version of it, and the blobs nothing else refers to,
        in one transaction; what it was, or None if there was none. Its submissions keep
        their results; their problem_version_id becomes null."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_BLOB_LOCK_KEY,))
            row = await (await conn.execute(_SUMMARY, (slug,))).fetchone()
            if row is None:
                return None
            problem = await (await conn.execute(_LOCK_PROBLEM, (slug,))).fetchone()
            cursor = await conn.execute(blobs.USED_BY_PROBLEM, {"problem": problem["id"]})
            candidates = [used["hash"] for used in await cursor.fetchall()]
            await conn.execute(_DELETE, (problem["id"],))
            await blobs.delete_orphans(conn, candidates)
            return ProblemSummary(**row)

    async def chunks(self, digest: str) -> AsyncIterator[bytes]:
        """Blob `digest`, a chunk at a time, each fetched on its own: a slow reader (a
        client downloading test data) holds no connection between chunks."""
        seq = 0
        while True:
            row = await self._fetchone(blobs.SELECT_CHUNK, (digest, seq))
            if row is None:
                return
            yield row["data"]
            if len(row["data"]) < CHUNK_SIZE:
                return  # the last one
            seq += 1

    async def _add_version(self, conn: psycopg.AsyncConnection, problem_id: int,
                           version: int, draft: ProblemDraft) -> StoredProblem:
        await blobs.write_missing(conn, draft.test_files().values())
        files = {name: file.digest for name, file in draft.files.items()}
        cursor = await conn.execute(_INSERT_VERSION, (
            problem_id, version, draft.title, Jsonb(draft.limits), Jsonb(draft.checker),
            None if draft.interactor is None else Jsonb(draft.interactor), Jsonb(files),
            draft.total_bytes))
        version_id = (await cursor.fetchone())["id"]
        async with conn.cursor().copy(_COPY_CASES) as copy:
            for index, case in enumerate(draft.cases, 1):
                await copy.write_row((version_id, index, case.input.digest, case.output.digest,
                                      case.hidden, case.points))
        await conn.execute(_MOVE_CURRENT, (version, problem_id))
        row = await (await conn.execute(_STORED, (draft.slug, version))).fetchone()
        return _stored(row)

    async def _fetchone(self, query: str, params: Any) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            return await (await conn.execute(query, params)).fetchone()
