"""The stored form of a compile artifact (judge/judging/compile_cache.py) and its validation.

An artifact is what compiling left: the outcome (success or the compiler's refusal), the
compile output and, after a success, the box's files and directories as Box.snapshot lists
them. Stored: a header (magic, the sha256 key it belongs to, outcome, output length), the
output, then each entry length-prefixed (path, mode, kind, data), all zlib-compressed.

What comes back from Redis is untrusted input: `decode` bounds the inflated size and checks
every entry (a relative path of real names under a directory listed before it, a regular file
or a directory, permission bits only) before anything touches a box.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field

from judge.sandbox import Outcome
from judge.sandbox.spec import Entries

MAGIC = b"JCC1"
MAX_PATH, MAX_NAME = 4096, 255


class ArtifactError(ValueError):
    """Bytes read from the cache are not a valid artifact for the key."""


@dataclass
class Artifact:
    """What compiling left: the outcome (OK or a compiler's refusal), the compile output and,
    after a success, the box's files and directories as Box.snapshot lists them."""

    outcome: Outcome
    output: bytes
    entries: Entries = field(default_factory=list)


# -- the stored form -------------------------------------------------------------------------

_HEAD = struct.Struct(">4s32sBI")  # magic, key digest, outcome (0 ok, 1 compile error), len
_ENTRY = struct.Struct(">HHBQ")  # path length, mode, kind (0 directory, 1 file), data length


def serialize(key: str, artifact: Artifact) -> bytes:
    """The uncompressed form (its length is what the per-artifact bound limits)."""
    chunks = [_HEAD.pack(MAGIC, bytes.fromhex(key), artifact.outcome is not Outcome.OK,
                         len(artifact.output)), artifact.output,
              len(artifact.entries).to_bytes(4, "big")]
    for rel, mode, data in artifact.entries:
        path = os.fsencode(rel)
        chunks += [_ENTRY.pack(len(path), mode, data is not None, len(data or b"")), path,
                   data or b""]
    return b"".join(chunks)


def encode(key: str, artifact: Artifact) -> bytes:
    return zlib.compress(serialize(key, artifact), 1)


def decode(key: str, stored: bytes, max_bytes: int) -> Artifact:
    """The artifact in `stored`, checked as untrusted input; ArtifactError if anything is off
    (bigger than `max_bytes` once inflated, another key's, truncated, or a path that is not a
    plain relative path under a directory created before it)."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(stored, max_bytes + 1)
    except zlib.error as e:
        raise ArtifactError(f"not zlib data: {e}") from None
    if len(raw) > max_bytes or not inflater.eof or inflater.unused_data:
        raise ArtifactError(f"more than {max_bytes} bytes inflated, or trailing data")
    return parse(key, raw)


def parse(key: str, raw: bytes) -> Artifact:
    """The artifact in its uncompressed form, checked (see `decode`)."""
    try:
        return _parse(key, raw)
    except (struct.error, UnicodeError) as e:
        raise ArtifactError(f"truncated or malformed: {e}") from None


def _parse(key: str, raw: bytes) -> Artifact:
    magic, digest, failed, size = _HEAD.unpack_from(raw)
    if magic != MAGIC or digest != bytes.fromhex(key) or failed > 1:
        raise ArtifactError("wrong magic, key or outcome")
    at = _HEAD.size
    output = _take(raw, at, size)
    at += size
    (count,) = struct.unpack_from(">I", raw, at)
    at += 4
    entries: Entries = []
    directories: set[str] = set()
    for _ in range(count):
        length, mode, kind, data_length = _ENTRY.unpack_from(raw, at)
        at += _ENTRY.size
        rel = os.fsdecode(_take(raw, at, length))
        at += length
        _check_entry(rel, mode, kind, directories)
        data = _take(raw, at, data_length) if kind else None
        at += data_length
        if kind == 0:
            if data_length:
                raise ArtifactError(f"directory {rel!r} with data")
            directories.add(rel)
        entries.append((rel, mode, data))
    if at != len(raw):
        raise ArtifactError("trailing bytes after the last entry")
    if failed and entries:
        raise ArtifactError("a compile error carries no files")
    return Artifact(Outcome.NONZERO_EXIT if failed else Outcome.OK, output, entries)


def _take(raw: bytes, at: int, size: int) -> bytes:
    if at + size > len(raw):
        raise ArtifactError("truncated")
    return raw[at:at + size]


def _check_entry(rel: str, mode: int, kind: int, directories: set[str]) -> None:
    """A path the box may create: relative, every component a real name, its parent a
    directory listed earlier; a kind and mode a snapshot can produce."""
    names = rel.split("/")
    if (not rel or len(rel) > MAX_PATH or "\0" in rel
            or any(name in ("", ".", "..") or len(name) > MAX_NAME for name in names)):
        raise ArtifactError(f"unsafe path {rel!r}")
    parent = rel.rpartition("/")[0]
    if parent and parent not in directories:
        raise ArtifactError(f"{rel!r} comes before its directory")
    if rel in directories or kind > 1 or mode & ~0o777:
        raise ArtifactError(f"bad entry {rel!r} (kind {kind}, mode {mode:o})")

