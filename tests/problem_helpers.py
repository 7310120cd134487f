"""Building problems for the store and cache tests: drafts from bytes, large test files
generated as they are read, and the API's asyncio store run from a blocking test."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from judge.problems.draft import CaseDraft, ProblemDraft, TestFile, inline
from judge.store.async_submissions import AsyncStorage
from judge.store.problems import AsyncProblemStore

T = TypeVar("T")


def draft(slug: str, cases: list[tuple[bytes, bytes]] | None = None, **overrides: Any
          ) -> ProblemDraft:
    """A problem with inline cases (default: one, "1" -> "2"), the judge0 checker."""
    built = [CaseDraft(inline(given), inline(answer), hidden=position > 0, points=Decimal(1))
             for position, (given, answer) in enumerate(cases or [(b"1\n", b"2\n")])]
    values: dict[str, Any] = {"slug": slug, "title": slug.title(),
                              "limits": {"cpu_time_limit": 2.0}, "checker": {"type": "judge0"},
                              "interactor": None, "files": {}, "cases": tuple(built)}
    return ProblemDraft(**{**values, **overrides})


class Generated:
    """`size` bytes made up as they are read (never all in memory), and the sizes of the
    reads asked for."""

    def __init__(self, size: int, seed: int = 0):
        self.size, self.seed, self.position, self.reads = size, seed, 0, []

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.position if n < 0 else min(n, self.size - self.position)
        self.reads.append(n)
        start, self.position = self.position, self.position + n
        return _pattern(self.seed, start, n)

    def close(self) -> None:
        pass


def _pattern(seed: int, start: int, n: int) -> bytes:
    """Bytes [start, start+n) of a deterministic stream: 4 KiB blocks of one value each."""
    out = bytearray()
    position = start
    while position < start + n:
        block_end = min((position // 4096 + 1) * 4096, start + n)
        out += bytes([(seed + position // 4096) % 251]) * (block_end - position)
        position = block_end
    return bytes(out)


def generated_file(size: int, seed: int = 0) -> tuple[TestFile, list[Generated]]:
    """A large TestFile whose bytes are generated on every open; the opened streams."""
    digest = hashlib.sha256()
    for start in range(0, size, 1 << 20):
        digest.update(_pattern(seed, start, min(1 << 20, size - start)))
    opened: list[Generated] = []

    def open_() -> Generated:
        opened.append(Generated(size, seed))
        return opened[-1]

    return TestFile(digest.hexdigest(), size, open_), opened


def run_async(database_url: str, body: Callable[[AsyncProblemStore], Awaitable[T]]) -> T:
    """`body(store)` in an event loop of its own, on a pool opened for it."""
    async def main() -> T:
        storage = AsyncStorage(database_url, max_size=4)
        await storage.open(wait=True)
        try:
            return await body(AsyncProblemStore(storage))
        finally:
            await storage.close()

    return asyncio.run(main())
