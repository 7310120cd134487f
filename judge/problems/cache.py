"""A worker host's local copies of test data, by hash: a set crosses from PostgreSQL once.

Files are named by the sha256 of their bytes under one directory (the workers' default:
<SANDBOX_BOXES_DIR>/test-data), so the same file in two problems is one copy, and a copy
never goes stale: a new version with other data has other hashes.

Several worker processes on one host share the directory with no shared memory:

* a fetch writes a temporary file, checks its sha256, then renames it into place, so a
  reader sees a whole, verified file or none;
* fetching one hash takes an advisory lock (flock, one lock file per hash prefix), so two
  processes asking at once fetch it once: the second finds it when it gets the lock;
* use refreshes a file's mtime; over `max_bytes` the least recently used go, except those
  used within the last `grace` seconds, so a path just handed out is never taken from under
  its caller (eviction re-reads the mtime under the same lock).

The directory is private to the worker's user (0700): a sandboxed program sees a file only
if the worker places it in its box.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)

_DIGEST = re.compile(r"[0-9a-f]{64}")
_TEMPORARY = ".fetch-"
_LOCKS = ".locks"
STALE_TEMPORARY = 3600.0  # seconds: a fetch this old died with its process
RESCAN_EVERY = 64  # fetches between looks at what the other processes added


class BlobSource(Protocol):
    def read_blob(self, digest: str, out: BinaryIO) -> int: ...


class CorruptTestData(RuntimeError):
    """What the database gave for a hash does not hash to it."""


class _Hashing:
    """A writer that hashes what goes through it."""

    def __init__(self, out: BinaryIO):
        self.out, self.sha256, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.out.write(data)


class TestDataCache:
    """Local copies of blobs under `directory`, fetched from `store` on first use."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, directory: Path, store: BlobSource, max_bytes: int, *,
                 grace: float = 60.0) -> None:
        self.directory = Path(directory)
        self.store, self.max_bytes, self.grace = store, max_bytes, grace
        self.fetched = 0  # blobs this cache fetched from the store (tests, bench)
        self._make_directories()
        self._estimate = sum(size for _, size, _ in self._scan())
        self._since_scan = 0

    def path(self, digest: str) -> Path:
        """The local file holding blob `digest`, fetched (and its sha256 checked) if this
        host does not have it yet. It stays at least `grace` seconds."""
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"not a sha256 hex digest: {digest!r}")
        final = self.directory / digest
        with self._lock(digest, fcntl.LOCK_SH):
            if _touch(final):
                return final
        with self._lock(digest, fcntl.LOCK_EX):
            if not _touch(final):  # nobody fetched it while we waited for the lock
                self._fetch(digest, final)
        self._evict_over_size(keep=final)
        return final

    def _fetch(self, digest: str, final: Path) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=_TEMPORARY)
        try:
            with os.fdopen(fd, "wb") as out:
                hashing = _Hashing(out)
                self.store.read_blob(digest, hashing)
                out.flush()
                os.fsync(out.fileno())  # the rename must not outlive the bytes in a crash
            if hashing.sha256.hexdigest() != digest:
                raise CorruptTestData(f"blob {digest} read from the database hashes to "
                                      f"{hashing.sha256.hexdigest()}")
            os.chmod(temporary, 0o644)
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        self.fetched += 1
        self._estimate += hashing.size

    def _evict_over_size(self, keep: Path) -> None:
        """Least recently used first, down to max_bytes. The size is this process's
        estimate between scans: a scan when it passes max_bytes, and every RESCAN_EVERY
        fetches to count what the other processes brought."""
        self._since_scan += 1
        if self._estimate <= self.max_bytes and self._since_scan < RESCAN_EVERY:
            return
        self._since_scan = 0
        entries = sorted(self._scan())
        total = sum(size for _, size, _ in entries)
        for mtime, size, path in entries:
            if total <= self.max_bytes or time.time() - mtime < self.grace:
                break  # small enough, or the rest were used too recently
            if path != keep and self._evict(path):
                total -= size
        self._estimate = total

    def _evict(self, path: Path) -> bool:
        """Remove `path` unless it was used within `grace` seconds (checked under its lock,
        so that a use that raced the scan keeps it)."""
        with self._lock(path.name, fcntl.LOCK_EX):
            try:
                if time.time() - path.stat().st_mtime < self.grace:
                    return False
                path.unlink()
            except FileNotFoundError:
                return False
        return True

    def _scan(self) -> Iterator[tuple[float, int, Path]]:
        """(mtime, size, path) of every cached file; removes the temporary files of fetches
        that died with their process."""
        now = time.time()
        with os.scandir(self.directory) as entries:
            for entry in entries:
                try:
                    stat = entry.stat()
                    if _DIGEST.fullmatch(entry.name):
                        yield stat.st_mtime, stat.st_size, Path(entry.path)
                    elif entry.name.startswith(_TEMPORARY) and \
                            now - stat.st_mtime > STALE_TEMPORARY:
                        os.unlink(entry.path)
                except FileNotFoundError:  # evicted or renamed by another process meanwhile
                    continue

    def _make_directories(self) -> None:
        (self.directory / _LOCKS).mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    @contextlib.contextmanager
    def _lock(self, digest: str, mode: int) -> Iterator[None]:
        """flock on the lock file of the hash's first two hex digits: 256 files at most,
        never deleted (deleting a lock file others wait on would break the lock). A fresh
        open each time, so that threads of one process exclude each other too."""
        lock = self.directory / _LOCKS / digest[:2]
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # the cache was deleted under us (cleared by hand): anew
            self._make_directories()
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)


def _touch(path: Path) -> bool:
    """Mark `path` used now; False if it is not there."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True
