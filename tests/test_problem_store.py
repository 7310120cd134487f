"""judge/store/problems.py against the real PostgreSQL: versions, content-addressed test data
(dedup, chunked streaming both ways), deletion of orphans only, concurrent writers."""

from __future__ import annotations

import asyncio
import hashlib
import io
import tracemalloc
import uuid
from dataclasses import replace

import pytest

from judge.problems.draft import CHUNK_SIZE, inline
from judge.store.problems import MissingBlob, ProblemExists, ProblemStore
from judge.store.submissions import Storage

from .problem_helpers import draft, generated_file, run_async

MIB = 1 << 20


@pytest.fixture
def store(clean_problems: Storage) -> ProblemStore:
    return ProblemStore(clean_problems)


def blob_count(storage: Storage) -> tuple[int, int]:
    with storage.pool.connection() as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM blobs) AS blobs, "
                           "(SELECT count(*) FROM blob_chunks) AS chunks").fetchone()
    return row["blobs"], row["chunks"]


class Writes:
    """An output that records the size of every write."""

    def __init__(self):
        self.sizes: list[int] = []
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sizes.append(len(data))
        self.sha256.update(data)
        return len(data)


def test_a_created_problem_reads_back_as_its_current_version(database_url, store):
    created = run_async(database_url, lambda s: s.create(draft("sum", [(b"1 2\n", b"3\n"),
                                                                      (b"5 5\n", b"10\n")])))
    version = created.version
    assert (version.slug, version.version, version.title) == ("sum", 1, "Sum")
    assert [(c.index, c.hidden) for c in version.cases] == [(1, False), (2, True)]
    assert version.cases[0].input_hash == hashlib.sha256(b"1 2\n").hexdigest()
    assert created.total_bytes == 4 + 2 + 4 + 3 and created.current_version == 1
    assert store.version(version.id) == version
    assert run_async(database_url, lambda s: s.current("sum")) == (version.id,
                                                                  {"cpu_time_limit": 2.0})
    assert run_async(database_url, lambda s: s.current("nope")) is None
    out = io.BytesIO()
    assert store.read_blob(version.cases[1].output_hash, out) == 3 and out.getvalue() == b"10\n"


def test_the_same_file_is_stored_once_in_one_problem_and_across_problems(database_url,
                                                                          clean_problems):
    same = b"shared input\n"

    async def scenario(s):
        await s.create(draft("one", [(same, b"a"), (same, b"b")]))
        await s.create(draft("two", [(same, b"a")],
                             files={"same.h": inline(same), "other.h": inline(b"x")}))

    run_async(database_url, scenario)
    assert blob_count(clean_problems) == (4, 4)  # same, a, b, x


def test_an_edit_adds_a_version_and_leaves_the_old_one_as_it_was(database_url, store):
    async def scenario(s):
        first = await s.create(draft("edit", [(b"1", b"1")]))
        second = await s.replace(draft("edit", [(b"2", b"4"), (b"3", b"9")], title="Squares",
                                       checker={"type": "tokens"}))
        return first, second, await s.get("edit"), await s.get("edit", 1), await s.get("edit", 3)

    first, second, current, old, missing = run_async(database_url, scenario)
    assert (second.version.version, second.current_version) == (2, 2)
    assert current == second and missing is None
    assert old.version == first.version and old.current_version == 2
    assert store.version(first.version.id) == first.version  # a queued submission's version
    assert store.version(second.version.id).checker == {"type": "tokens"}
    assert run_async(database_url, lambda s: s.current("edit"))[0] == second.version.id


def test_a_taken_slug_and_an_edit_of_nothing_are_told(database_url, store):
    async def scenario(s):
        await s.create(draft("taken"))
        with pytest.raises(ProblemExists):
            await s.create(draft("taken"))
        return await s.replace(draft("ghost"))

    assert run_async(database_url, scenario) is None


def test_deleting_a_problem_removes_its_versions_and_only_the_blobs_nobody_else_uses(
        database_url, clean_problems, store):
    async def scenario(s):
        kept = await s.create(draft("keep", [(b"common", b"kept")]))
        gone = await s.create(draft("gone", [(b"common", b"mine")]))
        edited = await s.replace(draft("gone", [(b"also mine", b"mine")],
                                       files={"f.h": inline(b"file of gone")}))
        with clean_problems.pool.connection() as conn:
            conn.execute("INSERT INTO submissions (token, language_id, problem, "
                         "problem_version_id) VALUES (%s, 71, 'gone', %s)",
                         (str(uuid.uuid4()), edited.version.id))
        summary = await s.delete("gone")
        return kept, gone, summary, await s.delete("gone"), await s.get("gone")

    kept, gone, summary, again, after = run_async(database_url, scenario)
    assert (summary.slug, summary.version, summary.test_cases) == ("gone", 2, 1)
    assert again is None and after is None and store.version(gone.version.id) is None
    assert blob_count(clean_problems) == (2, 2)  # "common" and "kept" stay
    out = io.BytesIO()
    store.read_blob(kept.version.cases[0].input_hash, out)
    assert out.getvalue() == b"common"
    with pytest.raises(MissingBlob):
        store.read_blob(hashlib.sha256(b"mine").hexdigest(), io.BytesIO())
    with clean_problems.pool.connection() as conn:
        row = conn.execute("SELECT problem, problem_version_id FROM submissions "
                           "WHERE problem = 'gone'").fetchone()
    assert row == {"problem": "gone", "problem_version_id": None}


def test_a_20_mb_file_is_written_and_read_a_chunk_at_a_time(database_url, clean_problems,
                                                            store):
    size = 20 * MIB + 12345
    big, opened = generated_file(size, seed=7)
    tracemalloc.start()
    try:
        run_async(database_url, lambda s: s.create(replace(draft("big"), cases=(
            replace(draft("big").cases[0], input=big),))))
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = Writes()
        assert store.read_blob(big.digest, out) == size
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(opened) == 1 and max(opened[0].reads) <= CHUNK_SIZE
    assert write_peak < 6 * MIB and read_peak < 4 * MIB, (write_peak, read_peak)
    assert out.sizes == [CHUNK_SIZE] * 20 + [12345]
    assert out.sha256.hexdigest() == big.digest
    assert blob_count(clean_problems) == (2, 22)  # the 21 chunks, and the answer's one

    async def chunks(s):
        return [len(chunk) async for chunk in s.chunks(big.digest)]

    assert run_async(database_url, chunks) == [CHUNK_SIZE] * 20 + [12345]


def test_a_blob_already_stored_is_not_read_again(database_url, clean_problems):
    big, opened = generated_file(3 * MIB, seed=1)
    first = replace(draft("first"), cases=(replace(draft("first").cases[0], input=big),))
    second = replace(first, slug="second")

    async def scenario(s):
        await s.create(first)
        await s.create(second)

    run_async(database_url, scenario)
    assert len(opened) == 1


def test_chunk_boundaries_empty_and_exact_multiples(database_url, store):
    exact, _ = generated_file(2 * CHUNK_SIZE, seed=3)
    problem = draft("edges", [(b"", b"")])
    problem = replace(problem, cases=(*problem.cases, replace(problem.cases[0], input=exact)))

    async def scenario(s):
        stored = await s.create(problem)
        return [[len(c) async for c in s.chunks(digest)]
                for digest in (stored.version.cases[0].input_hash, exact.digest)]

    assert run_async(database_url, scenario) == [[], [CHUNK_SIZE, CHUNK_SIZE]]
    assert store.read_blob(hashlib.sha256(b"").hexdigest(), io.BytesIO()) == 0


def test_the_list_is_by_slug_with_totals(database_url, store):
    async def scenario(s):
        for slug in ("c", "a", "b"):
            await s.create(draft(slug))
        await s.replace(draft("a", [(b"1", b"1"), (b"2", b"2")]))
        return await s.list_problems(1, 2), await s.list_problems(2, 2)

    (first, total), (second, _) = run_async(database_url, scenario)
    assert total == 3
    assert [(p.slug, p.version, p.test_cases) for p in first] == [("a", 2, 2), ("b", 1, 1)]
    assert [p.slug for p in second] == ["c"]


def test_concurrent_writers_of_the_same_new_files_neither_deadlock_nor_store_twice(
        database_url, clean_problems):
    files = [(f"in {i}".encode(), f"out {i}".encode()) for i in range(30)]

    async def scenario(s):
        return await asyncio.gather(s.create(draft("forward", files)),
                                    s.create(draft("backward", files[::-1])),
                                    s.create(draft("shuffled", files[::2] + files[1::2])))

    created = run_async(database_url, scenario)
    assert [len(p.version.cases) for p in created] == [30, 30, 30]
    assert blob_count(clean_problems) == (60, 60)


def test_a_delete_racing_a_writer_of_its_blobs_never_takes_them_from_it(database_url,
                                                                       clean_problems,
                                                                       store):
    cases = [(f"race {i}".encode(), b"answer") for i in range(20)]

    async def scenario(s):
        for round_ in range(5):
            await s.create(draft("old", cases))
            _, new = await asyncio.gather(s.delete("old"), s.create(draft(f"new{round_}",
                                                                          cases)))
            for case in new.version.cases:
                await asyncio.to_thread(store.read_blob, case.input_hash, io.BytesIO())

    run_async(database_url, scenario)
    assert blob_count(clean_problems) == (21, 21)
