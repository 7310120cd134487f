"""The test set from a zip of `N.in`/`N.out` pairs, the layout of Polygon and DMOJ packages.

Accepted: the pairs at the top of the archive or all in one folder (`tests/1.in`), numbered
with or without leading zeros (`1.in`, `01.in`), sorted numerically (`2` before `10`); folder
entries and the clutter archivers add (`__MACOSX/`, dot files) are skipped. Anything else
is refused with a message saying what to fix: not a zip, an `.in` without its `.out` or the
reverse, the same test twice, a file of another name, several folders, an encrypted member,
more than MAX_CASES cases, more than `max_bytes` uncompressed.

The archive is read from a (spooled temporary) file member by member and chunk by chunk:
never the whole set in memory. Every member is read once here, which checks its CRC and
hashes it; the store reads again only the members whose blobs it does not have.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable
from typing import BinaryIO

from judge.problems.draft import TestFile, measure

MAX_CASES = 10_000  # per version, however they come
_TEST_NAME = re.compile(r"(?:(?P<folder>[^/.][^/]*)/)?(?P<number>[0-9]{1,9})\.(?P<kind>in|out)")
_EOCD = b"PK\x05\x06"  # the end of central directory record
_ZIP64_LOCATOR, _ZIP64_EOCD = b"PK\x06\x07", b"PK\x06\x06"
_SHOWN = 5  # problems listed in one message


class PackageError(ValueError):
    """A zip of test cases the client must fix; the message says what is wrong."""


def read_tests(archive: BinaryIO, max_bytes: int,
               max_cases: int = MAX_CASES) -> list[tuple[TestFile, TestFile]]:
    """The (input, answer) pairs of the zip in `archive` (seekable), in order. The files
    read their bytes from `archive`, which must stay open while they are used."""
    entries = _entry_count(archive)
    if entries is not None and entries > 2 * max_cases + 1000:
        raise PackageError(f"the zip has {entries} entries; a problem has at most "
                           f"{max_cases} test cases (one .in and one .out each)")
    try:
        zipped = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise PackageError(f"not a readable zip archive ({e})") from None
    pairs = _pairs(zipped.infolist(), max_cases)
    total = sum(info.file_size for pair in pairs for info in pair)
    if total > max_bytes:
        raise PackageError(f"the test set is {total} bytes uncompressed, more than the "
                           f"{max_bytes} bytes a problem may hold (PROBLEM_MAX_SIZE)")
    return [(_hashed(zipped, given), _hashed(zipped, answer)) for given, answer in pairs]


def _pairs(infos: Iterable[zipfile.ZipInfo],
           max_cases: int) -> list[tuple[zipfile.ZipInfo, zipfile.ZipInfo]]:
    """The members as (N.in, N.out) in numeric order, or PackageError saying what is off."""
    tests: dict[int, dict[str, zipfile.ZipInfo]] = {}
    folders: set[str] = set()
    unexpected: list[str] = []
    duplicates: list[str] = []
    for info in infos:
        if info.is_dir() or _clutter(info.filename):
            continue
        match = _TEST_NAME.fullmatch(info.filename)
        if match is None:
            unexpected.append(info.filename)
            continue
        folders.add(match["folder"] or "")
        test = tests.setdefault(int(match["number"]), {})
        if match["kind"] in test:
            duplicates.append(f"{test[match['kind']].filename} and {info.filename}")
        test[match["kind"]] = info
        if info.flag_bits & 0x1:
            raise PackageError(f"{info.filename} is encrypted; send the zip without a password")
    if unexpected:
        raise PackageError("the zip holds N.in and N.out files only, found "
                           + _listed(unexpected))
    if len(folders) > 1:
        shown = [f"{folder}/" if folder else "the top level" for folder in sorted(folders)]
        raise PackageError("the tests must be at the top of the zip or in one folder, found "
                           + _listed(shown))
    if duplicates:
        raise PackageError("the same test twice: " + _listed(duplicates))
    unpaired = [f"{test['in' if 'in' in test else 'out'].filename} has no "
                f"{number}.{'out' if 'in' in test else 'in'}"
                for number, test in sorted(tests.items()) if len(test) == 1]
    if unpaired:
        raise PackageError("every test needs its input and its answer: " + _listed(unpaired))
    if not tests:
        raise PackageError("the zip holds no test (N.in and N.out files)")
    if len(tests) > max_cases:
        raise PackageError(f"the zip holds {len(tests)} tests; a problem has at most "
                           f"{max_cases}")
    return [(test["in"], test["out"]) for _, test in sorted(tests.items())]


def _hashed(zipped: zipfile.ZipFile, info: zipfile.ZipInfo) -> TestFile:
    """The member read once (its CRC checked, its bytes hashed), to be read again on demand."""
    try:
        with zipped.open(info) as member:
            digest, size = measure(member)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError,
            RuntimeError, ValueError) as e:
        raise PackageError(f"{info.filename} cannot be read from the zip ({e})") from None
    if size != info.file_size:
        raise PackageError(f"{info.filename} holds {size} bytes, not the {info.file_size} "
                           "the zip says")
    return TestFile(digest, size, lambda: zipped.open(info))


def _clutter(name: str) -> bool:
    """What archivers add beside the files: macOS resource forks, .DS_Store and the like."""
    return any((part.startswith(".") and part not in (".", "..")) or part == "__MACOSX"
               for part in name.split("/"))


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _entry_count(archive: BinaryIO) -> int | None:
    """The number of entries the zip declares, read from its end records before zipfile
    parses every entry (a zip of millions of empty entries would take gigabytes to parse);
    None when the records are not found (zipfile then says what is wrong)."""
    end = archive.seek(0, 2)
    tail_size = min(end, 22 + 0xFFFF)  # the record and its longest comment
    archive.seek(end - tail_size)
    tail = archive.read(tail_size)
    archive.seek(0)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    entries = int.from_bytes(tail[at + 10:at + 12], "little")
    if entries == 0xFFFF and at >= 20 and tail[at - 20:at - 16] == _ZIP64_LOCATOR:
        archive.seek(int.from_bytes(tail[at - 12:at - 4], "little"))
        record = archive.read(40)
        archive.seek(0)
        if record[:4] == _ZIP64_EOCD and len(record) == 40:
            entries = int.from_bytes(record[32:40], "little")
    return entries
