"""judge/problems/package.py: the test set from a zip, each malformed case refused with a
message naming what to fix; judge/problems/files.py: the deterministic files zip."""

from __future__ import annotations

import hashlib
import io
import tempfile
import tracemalloc
import zipfile

import pytest

from judge.problems.files import files_zip
from judge.problems.package import PackageError, read_tests

LIMIT = 1 << 30


def archive(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    buffer.seek(0)
    return buffer


def contents(members: dict[str, bytes], **kwargs) -> list[tuple[bytes, bytes]]:
    pairs = read_tests(archive(members), kwargs.pop("max_bytes", LIMIT), **kwargs)
    out = []
    for given, answer in pairs:
        with given.open() as a, answer.open() as b:
            out.append((a.read(), b.read()))
    return out


def refused(members: dict[str, bytes] | io.BytesIO, **kwargs) -> str:
    source = members if isinstance(members, io.BytesIO) else archive(members)
    with pytest.raises(PackageError) as caught:
        read_tests(source, kwargs.pop("max_bytes", LIMIT), **kwargs)
    return str(caught.value)


def test_pairs_at_the_top_sorted_numerically():
    members = {f"{n}.{kind}": f"{kind} {n}".encode() for n in (10, 2, 1) for kind in ("in", "out")}
    assert contents(members) == [(b"in 1", b"out 1"), (b"in 2", b"out 2"), (b"in 10", b"out 10")]


def test_leading_zeros_one_folder_and_archiver_clutter():
    members = {"tests/": b"", "tests/01.in": b"a", "tests/01.out": b"A", "tests/002.in": b"b",
               "tests/002.out": b"B", "__MACOSX/tests/._01.in": b"junk",
               "tests/.DS_Store": b"junk"}
    assert contents(members) == [(b"a", b"A"), (b"b", b"B")]


def test_files_are_hashed_and_sized():
    given, answer = read_tests(archive({"1.in": b"hello", "1.out": b""}), LIMIT)[0]
    assert (given.digest, given.size) == (hashlib.sha256(b"hello").hexdigest(), 5)
    assert (answer.digest, answer.size) == (hashlib.sha256(b"").hexdigest(), 0)


def test_not_a_zip():
    assert "not a readable zip" in refused(io.BytesIO(b"PK\x03\x04 but not really a zip"))
    assert "not a readable zip" in refused(io.BytesIO(b""))


@pytest.mark.parametrize("members, message", [
    ({"1.in": b"x", "1.out": b"y", "2.in": b"z"}, "2.in has no 2.out"),
    ({"1.in": b"x", "1.out": b"y", "3.out": b"z"}, "3.out has no 3.in"),
    ({"1.in": b"x", "01.in": b"x", "1.out": b"y"}, "the same test twice: 1.in and 01.in"),
    ({"1.in": b"x", "1.out": b"y", "readme.txt": b"hi"}, "N.in and N.out files only, found "
                                                         "readme.txt"),
    ({"a/1.in": b"x", "a/1.out": b"y", "b/2.in": b"x", "b/2.out": b"y"}, "one folder, found "
                                                                         "a/, b/"),
    ({"1.in": b"x", "1.out": b"y", "t/2.in": b"x", "t/2.out": b"y"}, "the top level, t/"),
    ({"../1.in": b"x", "../1.out": b"y"}, "found ../1.in, ../1.out"),
    ({"a/b/1.in": b"x", "a/b/1.out": b"y"}, "found a/b/1.in, a/b/1.out"),
    ({"1.IN": b"x", "1.OUT": b"y"}, "found 1.IN, 1.OUT"),
    ({}, "holds no test"),
    ({"tests/": b""}, "holds no test"),
])
def test_malformed_layouts_are_told(members, message):
    assert message in refused(members)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_name_given_twice_in_the_zip_is_a_duplicate():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name in ("1.in", "1.out", "1.in"):
            zipped.writestr(name, b"x")
    buffer.seek(0)
    assert "the same test twice: 1.in and 1.in" in refused(buffer)


def test_many_unpaired_files_are_listed_briefly():
    message = refused({f"{n}.in": b"x" for n in range(1, 20)})
    assert "1.in has no 1.out" in message and "and 14 more" in message


def test_too_many_cases_and_too_many_entries():
    members = {f"{n}.{kind}": b"" for n in range(1, 6) for kind in ("in", "out")}
    assert "at most 4" in refused(members, max_cases=4)
    many = {f"{n}.in": b"" for n in range(1, 1011)}
    assert "entries" in refused(many, max_cases=1)  # before zipfile parses them all


def test_over_the_size_limit_uncompressed():
    members = {"1.in": b"\0" * 600, "1.out": b"\0" * 500}  # a few bytes once deflated
    assert archive(members).getbuffer().nbytes < 1000
    assert "1100 bytes uncompressed, more than the 1000" in refused(members, max_bytes=1000)
    assert len(contents(members, max_bytes=1100)) == 1


def test_a_damaged_member_is_told_by_name():
    buffer = archive({"1.in": b"A" * 1000, "1.out": b"B"}, zipfile.ZIP_STORED)
    data = bytearray(buffer.getvalue())
    data[data.index(b"A" * 1000) + 500] = ord("C")  # the CRC no longer matches
    assert "1.in cannot be read from the zip" in refused(io.BytesIO(bytes(data)))


def test_an_encrypted_member_is_refused():
    data = bytearray(archive({"1.in": b"x", "1.out": b"y"}).getvalue())
    central = data.index(b"PK\x01\x02")  # 1.in's entry comes first; zipfile writes no
    data[central + 8] |= 0x1              # encryption, so its flag is set by hand
    data[6] |= 0x1
    assert "1.in is encrypted" in refused(io.BytesIO(bytes(data)))


def test_a_large_member_is_read_from_a_spooled_file_a_chunk_at_a_time():
    size = 20 << 20
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spooled:
        with zipfile.ZipFile(spooled, "w", zipfile.ZIP_DEFLATED) as zipped:
            with zipped.open("1.in", "w") as member:
                for n in range(20):
                    member.write(bytes([n]) * (1 << 20))
            zipped.writestr("1.out", b"ok")
        tracemalloc.start()
        try:
            (given, _), = read_tests(spooled, LIMIT)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert given.size == size and peak < 5 << 20, peak


def test_the_files_zip_is_deterministic():
    one = files_zip({"testlib.h": b"// testlib", "a.h": b"a"})
    two = files_zip({"a.h": b"a", "testlib.h": b"// testlib"})
    assert one == two and files_zip({}) is None
    with zipfile.ZipFile(io.BytesIO(one)) as zipped:
        assert [i.filename for i in zipped.infolist()] == ["a.h", "testlib.h"]
        assert {i.date_time for i in zipped.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zipped.read("testlib.h") == b"// testlib"
        assert {i.compress_type for i in zipped.infolist()} == {zipfile.ZIP_DEFLATED}
