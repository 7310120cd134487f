"""The HTTP under a callback (judge/callbacks.py): connections pinned to an address checked
beforehand, and one deadline per attempt that no receiver can stretch.

The deadline is enforced by a watchdog that shuts the socket down, because socket timeouts
only bound each single operation: a receiver sending one byte just before each timeout, or a
redirect just before each hop's, would otherwise keep a delivery thread as long as it likes.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time


class Attempt:
    """The deadline of one attempt, shared by its first request and every redirect it follows.

    Socket timeouts bound each connect, send and receive, but a receiver that trickles its
    answer a byte at a time, or answers each hop with another slow redirect, never trips them.
    So a watchdog timer shuts the socket of whichever hop is under way when the deadline
    passes, and no hop starts (no lookup, no connection) after it.
    """

    def __init__(self, seconds: float, rule: str):
        self.seconds, self.rule = seconds, rule
        self.ends = time.monotonic() + seconds
        self.expired = False  # the watchdog fired
        self._lock = threading.Lock()  # orders the watchdog against watch() and unwatch()
        self._conn: http.client.HTTPConnection | None = None
        self._watchdog = threading.Timer(seconds, self._expire)
        self._watchdog.daemon = True

    def __enter__(self) -> Attempt:
        self._watchdog.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._watchdog.cancel()

    def overrun(self) -> TimeoutError:
        return TimeoutError(f"the attempt did not finish within its deadline of "
                            f"{self.seconds:g} s ({self.rule})")

    def overdue(self) -> bool:
        return self.expired or time.monotonic() >= self.ends

    def left(self) -> float:
        """Seconds until the deadline; raises the overrun once it has passed."""
        remaining = self.ends - time.monotonic()
        if remaining <= 0 or self.expired:
            raise self.overrun()
        return remaining

    def watch(self, conn: http.client.HTTPConnection) -> None:
        """Put a hop's connection, whose socket was just made, under the watchdog."""
        with self._lock:
            if self.expired:
                raise self.overrun()
            self._conn = conn

    def unwatch(self) -> None:
        with self._lock:
            self._conn = None

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._conn.sock if self._conn is not None else None
            if sock is not None:
                try:  # the plain socket's shutdown, also under TLS: SSLSocket.shutdown would
                    # drop the TLS state that the delivery thread is using
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed


class PinnedHTTP(http.client.HTTPConnection):
    """HTTP to a host name, connected to an address chosen (and checked) beforehand, its
    socket watched by the attempt's deadline from the moment it exists."""

    def __init__(self, host: str, port: int, address: str, timeout: float, attempt: Attempt):
        super().__init__(host, port, timeout=timeout)
        self.address, self.attempt = address, attempt

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.attempt.watch(self)


class PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS with the same pinning; the certificate is checked against the host name. The
    handshake runs once the socket is watched, so a trickled handshake is cut too."""

    def __init__(self, host: str, port: int, address: str, timeout: float, attempt: Attempt,
                 context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self.address, self.attempt = address, attempt

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host,
                                              do_handshake_on_connect=False)
        self.attempt.watch(self)
        self.sock.do_handshake()
