"""Slow or greedy clients cannot hold the API: deadlines on the way a request arrives.

uvicorn waits for a request's headers and body as long as the client keeps the connection
open, and lets one address open as many connections as it likes: a few hundred clients that
send a byte every few seconds (slowloris) would hold a process's connections and memory for
ever. This is uvicorn's HTTP protocol (httptools) with the rules it lacks:

* the headers of each request within CLIENT_HEADER_TIMEOUT seconds of its first byte (of the
  connection's start, for the first request);
* its body within CLIENT_BODY_TIMEOUT seconds of its headers, and, once CLIENT_BODY_GRACE
  seconds have passed, arriving at CLIENT_BODY_MIN_RATE bytes per second at least;
* at most MAX_CONNECTIONS_PER_CLIENT open connections per address in this process (HTTP and
  WebSocket alike; a trusted proxy's address is exempt, it speaks for many clients).

A request over a deadline is answered 408 with a JSON error and the connection closed (if the
app had already answered, the connection is just closed); a connection over the cap is
answered 429 and closed. The checks cost a timer per connection while it waits, none while
the app works on a request (a `wait=true` request waiting for its verdict is not slow).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from judge.config import Config

from .access import Networks

BODY_CHECK_SECONDS = 1.0
# After a refusal the connection lingers, reading and dropping what the client still sends:
# closing on unread bytes would reset the connection and lose the answer on the way.
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class ClientLimits:
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    body_grace: float = 5.0
    body_min_rate: int = 1024
    max_connections: int = 256
    proxies: Networks | None = None

    @classmethod
    def from_config(cls, config: Config) -> ClientLimits:
        return cls(config.client_header_timeout, config.client_body_timeout,
                   config.client_body_grace, config.client_body_min_rate,
                   config.max_connections_per_client,
                   Networks(config.trusted_proxies))

    def capped(self, address: str) -> bool:
        """Whether connections from `address` count toward the cap."""
        exempt = self.proxies is not None and address in self.proxies
        return self.max_connections > 0 and not exempt


def refusal(status: int, message: str) -> bytes:
    """A whole HTTP response: `{"error": message}`, and the connection closes."""
    body = json.dumps({"error": message}).encode()
    return (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "content-type: application/json; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's protocol with the deadlines and the cap (the module's docstring)."""

    limits: ClassVar[ClientLimits] = ClientLimits()
    open_connections: ClassVar[Counter[str]] = Counter()  # per address, in this process

    def connection_made(self, transport: Any) -> None:  # noqa: ANN401 - asyncio's transport
        super().connection_made(transport)
        self._refused = False
        self._timer: Any = None
        self._body_started: float | None = None
        self._body_bytes = 0
        self._address = self.client[0] if self.client else ""
        self._counted = self.limits.capped(self._address)
        if self._counted:
            if self.open_connections[self._address] >= self.limits.max_connections:
                self._counted = False
                self._refuse(429, f"{self.limits.max_connections} connections from your "
                                  "address are open already; close one and try again")
                return
            self.open_connections[self._address] += 1
        self._arm(self.limits.header_timeout, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._release()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # a later request on a kept-alive connection
            self._arm(self.limits.header_timeout, self._headers_late)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._body_started, self._body_bytes = self.loop.time(), 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._body_started = None
        self._disarm()
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: the rest of a refused request is dropped
        super().data_received(data)
        if self._body_started is not None and self._timer is None \
                and not self.transport.is_closing():
            self._arm(BODY_CHECK_SECONDS, self._check_body)  # the body is still coming

    def handle_websocket_upgrade(self) -> None:
        """The WebSocket protocol takes the connection over: it keeps its place under the cap
        until the WebSocket closes."""
        self._disarm()
        self._body_started = None
        super().handle_websocket_upgrade()
        websocket = self.transport.get_protocol()
        lost: Callable[[Exception | None], None] = websocket.connection_lost

        def release_then_lose(exc: Exception | None) -> None:
            self._release()
            lost(exc)

        websocket.connection_lost = release_then_lose

    # -- the rules --------------------------------------------------------------------------

    def _headers_late(self) -> None:
        self._timer = None
        self._expire(f"the request headers did not arrive within "
                     f"{self.limits.header_timeout:g} s")

    def _check_body(self) -> None:
        self._timer = None
        if self._body_started is None:
            return
        limits = self.limits
        elapsed = self.loop.time() - self._body_started
        if elapsed >= limits.body_timeout:
            self._expire(f"the request body did not arrive within {limits.body_timeout:g} s")
        elif elapsed >= limits.body_grace and self._body_bytes < limits.body_min_rate * elapsed:
            self._expire(f"the request body arrives at {self._body_bytes / elapsed:.0f} "
                         f"bytes/s, slower than the {limits.body_min_rate} this server needs")
        else:
            self._arm(BODY_CHECK_SECONDS, self._check_body)

    def _expire(self, message: str) -> None:
        if self.transport.is_closing():
            return
        cycle = self.cycle if self._body_started is not None else None
        if cycle is not None and cycle.response_started:
            self.transport.close()  # answered already: only the connection is left to close
            return
        if cycle is not None:  # the app reading the body hears a disconnect, answers nothing
            cycle.disconnected = True
            cycle.message_event.set()
        self._refuse(408, message)

    # -- helpers ----------------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        self._refused = True
        self._disarm()
        self.transport.write(refusal(status, message))
        try:
            self.transport.write_eof()  # the client reads the answer, then its end
        except (NotImplementedError, RuntimeError, OSError):
            self.transport.close()
            return
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release(self) -> None:
        if self._counted:
            self._counted = False
            self.open_connections[self._address] -= 1
            if self.open_connections[self._address] <= 0:
                del self.open_connections[self._address]
