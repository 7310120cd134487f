"""The docker backend's box: the box's files kept in the worker's memory, on the trusted side.

A container's tmpfs vanishes with the container, so between runs (extract, compile, run...)
the box lives here. Each run receives it as a tar stream and, when the run ends, the
container's box comes back as a tar stream that is parsed here without ever touching the
host's file system: only regular files and directories with plain relative names are kept;
symlinks, hard links, devices, FIFOs and names with `..` or a leading `/` are dropped, so a
program cannot make the trusted side follow anything it planted.

It offers what the pipeline uses of `box.Box`: reset, write, replace, read, exists,
snapshot, restore.
"""

from __future__ import annotations

import io
import posixpath
import stat
import tarfile

from .box import BoxError
from .spec import Entries


def _plain(name: str) -> str | None:
    """`name` as a normalised relative path, or None when it is not one we accept."""
    name = name.removeprefix("./").rstrip("/")
    if not name or name.startswith("/") or "\\" in name or "\0" in name:
        return None
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return posixpath.join(*parts)


class MemoryBox:
    """A box whose files live in a dict. `id` and `path` describe it in logs."""

    def __init__(self, box_id: int = 0, size_kb: int = 256 * 1024, inodes: int = 4096):
        self.id = box_id
        self.path = "memory (docker backend)"
        self.size_kb = size_kb
        self.inodes = inodes
        self._files: dict[str, tuple[int, bytes | None]] = {}
        self.lost: str | None = None  # why the last run's box could not be brought back

    # -- what the pipeline calls -----------------------------------------------------------

    def reset(self) -> None:
        self._files = {}
        self.lost = None

    def write(self, name: str, data: bytes, mode: int = 0o644) -> None:
        if "/" in name or name in ("", ".", ".."):
            raise BoxError(f"not a plain file name: {name!r}")
        self._usable()
        if name in self._files:
            raise BoxError(f"{name!r} already exists in the box")
        self._files[name] = (stat.S_IMODE(mode), bytes(data))

    def replace(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._usable()
        current = self._files.get(name)
        if current is not None and current[1] is None:
            raise BoxError(f"{name!r} is a directory in the box")
        self._files.pop(name, None)
        self.write(name, data, mode)

    def read(self, name: str, limit: int) -> bytes | None:
        entry = self._files.get(name)
        return None if entry is None or entry[1] is None else entry[1][:limit]

    def exists(self, name: str) -> bool:
        return name in self._files

    def snapshot(self, max_bytes: int, strict: bool = False) -> Entries:
        """Box.snapshot's list; `strict` changes nothing: only files and directories live
        here."""
        self._usable()
        if self.total_bytes() > max_bytes:
            raise BoxError(f"the box holds more than {max_bytes} bytes")
        return [(name, mode, data) for name, (mode, data) in sorted(self._files.items())]

    def restore(self, entries: Entries) -> None:
        for name, mode, data in entries:
            self._files[name] = (mode, data)

    # -- what the docker sandbox calls -----------------------------------------------------

    def total_bytes(self) -> int:
        return sum(len(data) for _, data in self._files.values() if data is not None)

    def _usable(self) -> None:
        if self.lost is not None:
            raise BoxError(f"the box was lost after the last run: {self.lost}")

    def add_to(self, tar: tarfile.TarFile, prefix: str) -> None:
        """Add the box to an open tar stream, every name under `prefix` (parents first)."""
        self._usable()
        for name in sorted(self._files):
            mode, data = self._files[name]
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    def load_tar(self, data: bytes, max_bytes: int) -> None:
        """Replace the box by the contents of tar stream `data` (from the container). Raises
        BoxError when the stream is not a tar or holds more than `max_bytes`."""
        files: dict[str, tuple[int, bytes | None]] = {}
        total = 0
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
                for member in tar:
                    name = _plain(member.name)
                    parent = name.rpartition("/")[0] if name else ""
                    if name is None or (parent and files.get(parent, (0, b""))[1] is not None):
                        continue  # outside the box, or under something that is no directory
                    mode = stat.S_IMODE(member.mode)
                    if member.isdir():
                        files[name] = (mode, None)
                    elif member.isreg():
                        total += member.size
                        if total > max_bytes:
                            raise BoxError(f"the box holds more than {max_bytes} bytes")
                        extracted = tar.extractfile(member)
                        files[name] = (mode, extracted.read() if extracted else b"")
        except (tarfile.TarError, EOFError) as e:
            raise BoxError(f"the box could not be read back from the container: {e}") from e
        self._files = files
        self.lost = None
