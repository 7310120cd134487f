"""Test data in PostgreSQL: content-addressed blobs (the sha256 of the whole file) in 1 MiB
chunks, stored once whoever uses them (judge/store/migrations/0004_problems.sql).

Writing runs in the caller's transaction with the rows that refer to the blobs, so a blob is
there exactly when a committed version uses it. New blobs are inserted in hash order: two
transactions storing the same new files wait for each other in one direction only (the
second finds the first's rows once it commits), never in a cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import psycopg

from judge.problems.draft import CHUNK_SIZE, TestFile

_INSERT_BLOB = ("INSERT INTO blobs (hash, size) VALUES (%s, %s) "
                "ON CONFLICT (hash) DO NOTHING RETURNING hash")
_INSERT_CHUNK = "INSERT INTO blob_chunks (hash, seq, data) VALUES (%s, %s, %s)"
SELECT_SIZE = "SELECT size FROM blobs WHERE hash = %s"
SELECT_CHUNKS = "SELECT data FROM blob_chunks WHERE hash = %s ORDER BY seq"
SELECT_CHUNK = "SELECT data FROM blob_chunks WHERE hash = %s AND seq = %s"

# The blobs a problem's versions refer to: the candidates for removal with it.
USED_BY_PROBLEM = """
    SELECT c.input_hash AS hash FROM problem_cases c
        JOIN problem_versions v ON v.id = c.version_id WHERE v.problem_id = %(problem)s
    UNION SELECT c.output_hash FROM problem_cases c
        JOIN problem_versions v ON v.id = c.version_id WHERE v.problem_id = %(problem)s
    UNION SELECT f.value FROM problem_versions v, jsonb_each_text(v.files) f
        WHERE v.problem_id = %(problem)s"""
# Of those, the ones nothing refers to any more (after the problem's rows are gone).
DELETE_ORPHANS = """
    DELETE FROM blobs b WHERE b.hash = ANY(%s)
        AND NOT EXISTS (SELECT 1 FROM problem_cases c WHERE c.input_hash = b.hash)
        AND NOT EXISTS (SELECT 1 FROM problem_cases c WHERE c.output_hash = b.hash)
        AND NOT EXISTS (SELECT 1 FROM problem_versions v, jsonb_each_text(v.files) f
                        WHERE f.value = b.hash)"""


async def write_missing(conn: psycopg.AsyncConnection, files: Iterable[TestFile]) -> int:
    """Store the blobs of `files` the database does not hold yet, chunk by chunk, in the
    transaction `conn` is in; how many were new. The files are read in worker threads (a
    zip member inflates as it is read), one chunk in memory at a time."""
    written = 0
    for file in sorted(files, key=lambda file: file.digest):
        cursor = await conn.execute(_INSERT_BLOB, (file.digest, file.size))
        if await cursor.fetchone() is None:
            continue  # stored already (dedup), or by a transaction that just committed
        size = await _write_chunks(conn, file)
        if size != file.size:
            raise RuntimeError(f"blob {file.digest} read back {size} bytes, hashed "
                               f"{file.size}: its source changed while it was stored")
        written += 1
    return written


async def _write_chunks(conn: psycopg.AsyncConnection, file: TestFile) -> int:
    stream = await asyncio.to_thread(file.open)
    try:
        seq = size = 0
        while chunk := await asyncio.to_thread(stream.read, CHUNK_SIZE):
            await conn.execute(_INSERT_CHUNK, (file.digest, seq, chunk))
            seq, size = seq + 1, size + len(chunk)
        return size
    finally:
        await asyncio.to_thread(stream.close)


async def delete_orphans(conn: psycopg.AsyncConnection, candidates: Sequence[str]) -> int:
    """Delete those of `candidates` no case or file refers to; how many went."""
    if not candidates:
        return 0
    cursor = await conn.execute(DELETE_ORPHANS, (list(candidates),))
    return cursor.rowcount
