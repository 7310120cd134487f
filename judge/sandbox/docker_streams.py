"""The byte streams of a docker backend run: Docker's attach framing, and each stream's bytes
kept up to a cap, with the wrapper's report split off the end of stderr."""

from __future__ import annotations


class Frames:
    """Splits the attach stream (8-byte headers: stream, 0, 0, 0, big-endian length)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[int, bytes]]:
        self.buf += chunk
        out = []
        while len(self.buf) >= 8:
            size = int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < 8 + size:
                break
            out.append((self.buf[0], bytes(self.buf[8:8 + size])))
            del self.buf[:8 + size]
        return out


class Capped:
    """A stream's bytes, keeping at most `cap` and remembering whether there were more."""

    def __init__(self, cap: int):
        self.cap, self.data, self.over = cap, bytearray(), False

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        self.data += chunk[:max(room, 0)]
        self.over = self.over or len(chunk) > room


class StderrSplit:
    """The container's stderr: the program's (capped), then the wrapper's section, which
    starts at `marker`."""

    def __init__(self, marker: bytes, cap: int, section_cap: int):
        self.marker, self.program = marker, Capped(cap)
        self.section: Capped | None = None
        self.section_cap = section_cap
        self._pending = b""

    def add(self, chunk: bytes) -> None:
        if self.section is not None:
            self.section.add(chunk)
            return
        data = self._pending + chunk
        at = data.find(self.marker)
        if at >= 0:
            self.program.add(data[:at])
            self.section = Capped(self.section_cap)
            self.section.add(data[at + len(self.marker):])
            self._pending = b""
            return
        keep = len(self.marker) - 1  # the start of a marker split across chunks
        self.program.add(data[:-keep] if len(data) > keep else b"")
        self._pending = data[-keep:] if len(data) > keep else data

    def finish(self) -> None:
        if self.section is None:
            self.program.add(self._pending)
            self._pending = b""
