"""Fixtures for the tests that talk to the real PostgreSQL and Redis that `make test` starts.

A database the tests cannot reach is an error, not a skip: a suite that silently skips its
storage tests would pass without testing anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from judge.store.submissions import Storage

DEFAULT_TEST_DATABASE_URL = "postgresql://judge:judge@127.0.0.1:5432/judge_test"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL


@pytest.fixture(scope="session")
def storage(database_url: str) -> Iterator[Storage]:
    """The test database, migrated to the current schema, shared by the whole session."""
    with Storage(database_url, max_size=4, open=False) as shared:
        shared.open(wait=True, timeout=10)
        shared.migrate()
        yield shared


@pytest.fixture
def clean_db(storage: Storage) -> Storage:
    """The shared storage with no submissions: each test starts from an empty table."""
    with storage.pool.connection() as conn:
        conn.execute("TRUNCATE submissions RESTART IDENTITY")
    return storage


@pytest.fixture
def clean_problems(storage: Storage) -> Storage:
    """The shared storage with no problems and no test data (and, through the foreign key
    of submissions.problem_version_id, no submissions)."""
    with storage.pool.connection() as conn:
        conn.execute("TRUNCATE problems, problem_versions, problem_cases, blobs, blob_chunks "
                     "RESTART IDENTITY CASCADE")
    return storage


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the test Redis database, emptied after each test."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.flushdb()
        client.close()
