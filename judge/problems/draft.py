"""A problem version before it is stored: validated, its test data hashed, not yet written.

Test data can be large (a zip of hundreds of MB), so a draft holds no file's bytes: a
`TestFile` knows its hash and size and how to read its bytes again, chunk by chunk, when the
store writes a blob it does not have yet.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

CHUNK_SIZE = 1024 * 1024  # the blobs' chunks (judge/store/migrations/0004_problems.sql)


@dataclass(frozen=True)
class TestFile:
    """One file of test data (a case's input or answer, or a problem file)."""

    __test__ = False  # not a pytest test class, whatever its name

    digest: str                       # sha256 hex of the bytes: the blob's key
    size: int
    open: Callable[[], BinaryIO]      # the bytes again, from the start


def inline(data: bytes) -> TestFile:
    """A file already in memory (the JSON body's inline test cases and files)."""
    return TestFile(hashlib.sha256(data).hexdigest(), len(data), lambda: io.BytesIO(data))


def measure(stream: BinaryIO) -> tuple[str, int]:
    """(sha256 hex, size) of a stream, read chunk by chunk."""
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class CaseDraft:
    input: TestFile
    output: TestFile
    hidden: bool = False
    points: Decimal = Decimal(1)


@dataclass(frozen=True)
class ProblemDraft:
    """Everything a version stores. `checker` and `interactor` are in their stored form
    (a custom checker's and an interactor's source_code in base64)."""

    slug: str
    title: str
    limits: dict[str, Any]
    checker: dict[str, Any]
    interactor: dict[str, Any] | None
    files: Mapping[str, TestFile] = field(default_factory=dict)
    cases: tuple[CaseDraft, ...] = ()

    @property
    def total_bytes(self) -> int:
        """Test data and files, each time they are used: what PROBLEM_MAX_SIZE bounds."""
        return (sum(case.input.size + case.output.size for case in self.cases)
                + sum(file.size for file in self.files.values()))

    def test_files(self) -> dict[str, TestFile]:
        """Every file the version refers to, once per digest: the blobs it needs."""
        found = {file.digest: file for file in self.files.values()}
        for case in self.cases:
            found.setdefault(case.input.digest, case.input)
            found.setdefault(case.output.digest, case.output)
        return found
