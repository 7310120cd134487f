"""The submissions for the API, on psycopg's asyncio pool: a request waiting for PostgreSQL
costs a coroutine, not a thread. The statements are those of the workers' Storage
(judge/store/statements.py); the schema and its migrations stay with Storage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from judge.store import statements
from judge.store.statements import Statement
from judge.store.submissions import (
    StorageUnavailable,
    mark_returned,
    needs_check,
    unreachable_reason,
)


async def _configure(conn: psycopg.AsyncConnection) -> None:
    conn.adapters.register_loader("uuid", TextLoader)  # tokens are strings, as in Storage


async def _reset(conn: psycopg.AsyncConnection) -> None:
    mark_returned(conn)


async def _check_if_idle(conn: psycopg.AsyncConnection) -> None:
    if needs_check(conn):
        await AsyncConnectionPool.check_connection(conn)


class AsyncStorage:
    """The API process's pool. Construct anywhere; `open()` inside the event loop that uses
    it (the app's start-up), `close()` at its shutdown."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10,
                 timeout: float = 30.0) -> None:
        """``timeout``: how long a request waits for a connection before PoolTimeout, which
        the API answers with 503: a database outage is a prompt answer, not a hung request."""
        self.dsn = dsn
        self.pool = AsyncConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, name="judge-api",
            timeout=timeout, kwargs={"autocommit": True, "row_factory": dict_row},
            configure=_configure, check=_check_if_idle, reset=_reset)

    async def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        try:
            await self.pool.open(wait=wait, timeout=timeout)
        except PoolTimeout:
            await self.pool.close()
            raise StorageUnavailable(unreachable_reason(self.dsn, timeout)) from None

    async def close(self) -> None:
        await self.pool.close()

    async def insert_submission(self, row: Mapping[str, Any]) -> None:
        await self._execute(statements.insert(row))

    async def get_submission(self, token: str) -> dict[str, Any] | None:
        return await self._fetchone(statements.select(token))

    async def get_many(self, tokens: Sequence[str]) -> list[dict[str, Any] | None]:
        many = statements.Many(tokens)
        if many.statement is None:
            return many.ordered([])
        async with self.pool.connection() as conn:
            cursor = await conn.execute(many.statement.query, many.statement.params)
            return many.ordered(await cursor.fetchall())

    async def list_submissions(self, page: int, per_page: int
                               ) -> tuple[list[dict[str, Any]], int]:
        rows = statements.page(page, per_page)
        async with self.pool.connection() as conn, conn.transaction():
            total = await (await conn.execute(statements.COUNT_ALL.query)).fetchone()
            cursor = await conn.execute(rows.query, rows.params)
            return await cursor.fetchall(), total["n"]

    async def delete_submission(self, token: str) -> dict[str, Any] | None:
        return await self._fetchone(statements.delete_finished(token))

    async def count_pending(self) -> int:
        row = await self._fetchone(statements.COUNT_PENDING)
        return row["n"] if row else 0

    async def _fetchone(self, statement: Statement | None) -> dict[str, Any] | None:
        if statement is None:
            return None
        async with self.pool.connection() as conn:
            cursor = await conn.execute(statement.query, statement.params)
            return await cursor.fetchone()

    async def _execute(self, statement: Statement | None) -> None:
        if statement is None:
            return
        async with self.pool.connection() as conn:
            await conn.execute(statement.query, statement.params)
