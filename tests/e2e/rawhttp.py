"""HTTP by hand over asyncio streams, for tests that need many clients at once or a client
that misbehaves on purpose (slow headers, a trickled body), which no HTTP library does."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def request_bytes(method: str, path: str, host: str, body: bytes = b"",
                  headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    if body or method in ("POST", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """The whole response of a `Connection: close` request."""
    raw = await reader.read()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


async def connect(url: str, source: str | None = None
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    target = urlsplit(url)
    return await asyncio.open_connection(target.hostname, target.port,
                                         local_addr=(source, 0) if source else None)


async def fetch(url: str, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None, source: str | None = None) -> Answer:
    reader, writer = await connect(url, source)
    try:
        writer.write(request_bytes(method, path, urlsplit(url).netloc, body, headers))
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


async def trickle(url: str, path: str, body: bytes, pause: float,
                  source: str | None = None) -> Answer:
    """POST `body` a byte at a time, `pause` seconds apart, until the server answers."""
    reader, writer = await connect(url, source)
    try:
        request = request_bytes("POST", path, urlsplit(url).netloc, body)
        head = request[:len(request) - len(body)]
        writer.write(head)
        await writer.drain()
        answering = asyncio.ensure_future(read_answer(reader))
        for byte in body:
            if answering.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait([answering], timeout=pause)
        return await answering
    finally:
        writer.close()
