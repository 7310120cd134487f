"""judge/problems/cache.py with the real store: a blob fetched once per host, checked
against its hash, evicted least recently used first, shared by concurrent processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import pytest

from judge.problems import cache as cache_module
from judge.problems.cache import CorruptTestData, TestDataCache
from judge.store.problems import MissingBlob, ProblemStore
from judge.store.submissions import Storage

from .problem_helpers import draft, run_async

KIB = 1024


@pytest.fixture
def store(clean_problems: Storage) -> ProblemStore:
    return ProblemStore(clean_problems)


def stored(database_url: str, *contents: bytes) -> list[str]:
    """Store `contents` as the inputs of a problem; their hashes."""
    cases = [(content, b"answer") for content in contents]
    run_async(database_url, lambda s: s.create(draft(f"p{time.monotonic_ns()}", cases)))
    return [hashlib.sha256(content).hexdigest() for content in contents]


def cached_files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if not p.name.startswith(".")}


def test_a_blob_is_fetched_once_then_served_from_disk(database_url, store, tmp_path):
    digest, = stored(database_url, b"x" * 5000)
    cache = TestDataCache(tmp_path / "data", store, max_bytes=1 << 20)
    first = cache.path(digest)
    assert first.read_bytes() == b"x" * 5000 and cache.fetched == 1
    assert cache.path(digest) == first and cache.fetched == 1
    again = TestDataCache(tmp_path / "data", store, max_bytes=1 << 20)  # a restarted worker
    assert again.path(digest) == first and again.fetched == 0
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    assert first.stat().st_mode & 0o777 == 0o644


def test_a_cache_deleted_under_a_running_worker_is_made_anew(database_url, store, tmp_path):
    first, second = stored(database_url, b"one" * 100, b"two" * 100)
    cache = TestDataCache(tmp_path / "data", store, max_bytes=1 << 20)
    cache.path(first)
    shutil.rmtree(tmp_path / "data")  # cleared by hand while the worker runs
    assert cache.path(second).read_bytes() == b"two" * 100
    assert cache.path(first).read_bytes() == b"one" * 100 and cache.fetched == 3
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700


def test_what_does_not_hash_to_its_name_is_refused_and_not_kept(database_url, store,
                                                                clean_problems, tmp_path):
    digest, = stored(database_url, b"the real data")
    with clean_problems.pool.connection() as conn:
        conn.execute("UPDATE blob_chunks SET data = 'the fake data' WHERE hash = %s", (digest,))
    cache = TestDataCache(tmp_path, store, max_bytes=1 << 20)
    with pytest.raises(CorruptTestData, match=digest):
        cache.path(digest)
    assert cached_files(tmp_path) == set() and cache.fetched == 0
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".fetch-")] == []


def test_a_hash_the_database_does_not_have_and_a_malformed_one(database_url, store, tmp_path):
    cache = TestDataCache(tmp_path, store, max_bytes=1 << 20)
    with pytest.raises(MissingBlob):
        cache.path("0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        cache.path("../../etc/passwd")
    assert cached_files(tmp_path) == set()


def test_over_its_size_the_least_recently_used_go_first(database_url, store, tmp_path):
    a, b, c, d = stored(database_url, *(bytes([n]) * (10 * KIB) for n in range(4)))
    cache = TestDataCache(tmp_path, store, max_bytes=35 * KIB, grace=0)
    for age, digest in ((300, a), (200, b), (100, c)):
        os.utime(cache.path(digest), (time.time() - age,) * 2)
    os.utime(cache.path(a), (time.time() - 50,) * 2)  # a used again: b is the oldest now
    cache.path(d)
    assert cached_files(tmp_path) == {a, c, d}
    cache.path(b)  # back, and c (the oldest) makes room
    assert cached_files(tmp_path) == {a, b, d} and cache.fetched == 5


def test_a_file_used_within_the_grace_period_is_never_evicted(database_url, store, tmp_path):
    """Eviction comes with a fetch (what makes the cache grow); a hit only marks the use."""
    a, b, c = stored(database_url, *(bytes([n]) * (10 * KIB) for n in b"abc"))
    cache = TestDataCache(tmp_path, store, max_bytes=5 * KIB, grace=60)
    cache.path(a)
    cache.path(b)
    assert cached_files(tmp_path) == {a, b}  # over max_bytes, but both just handed out
    os.utime(tmp_path / a, (time.time() - 120,) * 2)
    cache.path(c)
    assert cached_files(tmp_path) == {b, c}


def test_temporary_files_of_dead_fetches_are_cleaned_up(store, tmp_path):
    stale = tmp_path / ".fetch-dead"
    stale.write_bytes(b"half a file")
    old = time.time() - cache_module.STALE_TEMPORARY - 10
    os.utime(stale, (old, old))
    fresh = tmp_path / ".fetch-running"
    fresh.write_bytes(b"still being written")
    TestDataCache(tmp_path, store, max_bytes=1 << 20)
    assert not stale.exists() and fresh.exists()


def _fetch_all(database_url: str, directory: str, digests: list[str], barrier,
               results) -> None:
    """One worker process: its own pool and cache on the shared directory."""
    with Storage(database_url, max_size=1) as storage:
        cache = TestDataCache(Path(directory), ProblemStore(storage), max_bytes=1 << 30)
        barrier.wait()
        sizes = [cache.path(digest).stat().st_size for digest in digests]
        results.put((cache.fetched, sizes))


def test_concurrent_processes_on_one_directory_fetch_each_blob_once(database_url, store,
                                                                    tmp_path):
    digests = stored(database_url, *(bytes([n]) * (300 * KIB + n) for n in range(12)))
    context = multiprocessing.get_context("spawn")
    processes, barrier, results = 6, context.Barrier(6), context.Queue()
    workers = [context.Process(target=_fetch_all,
                               args=(database_url, str(tmp_path), digests[::1 - 2 * (i % 2)],
                                     barrier, results))
               for i in range(processes)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert sum(fetched for fetched, _ in outcomes) == len(digests)
    expected = [300 * KIB + n for n in range(12)]
    for i, (_, sizes) in enumerate(outcomes):
        assert sorted(sizes) == expected, i
    assert cached_files(tmp_path) == set(digests)
    for digest in digests:
        assert hashlib.sha256((tmp_path / digest).read_bytes()).hexdigest() == digest
