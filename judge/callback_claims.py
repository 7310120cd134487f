"""A worker's claims on the callbacks its delivery pool is to send (judge/callbacks.py).

The claim (judge/store/leases.py) is what tells the reconciler that a pending callback still
has a live owner: while it is held, the callback is never re-sent, however slow the receiver
or however long the pool's queue. So a callback is held from the moment it is queued until
its outcome is stored, and one thread renews every held claim, every third of the lease, in
one statement; a worker that dies stops renewing, and its callbacks are re-sent once their
claims run out.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading

from judge.store.leases import Leases

log = logging.getLogger(__name__)


def new_owner(hostname: str) -> str:
    """An owner name unique among live processes: host, process, and a random part (the same
    host name and pid can come back in another container)."""
    return f"{hostname}:{os.getpid()}:{secrets.token_hex(4)}"


class CallbackClaims:
    """The callbacks one delivery pool holds, kept claimed by one thread for the pool's life."""

    def __init__(self, leases: Leases, owner: str):
        self.leases, self.owner = leases, owner
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._wake = threading.Event()  # a callback was queued: claim it now
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, token: str) -> None:
        """Keep `token`'s callback claimed until `release`. Returns at once (the job that
        queues it must not wait for the database); the keeper thread claims it right away."""
        with self._lock:
            self._held.add(token)
            if self._thread is None:
                self._thread = threading.Thread(target=self._keep, name="callback-claims",
                                                daemon=True)
                self._thread.start()
        self._wake.set()

    def take(self, token: str) -> bool:
        """Claim `token`'s callback now, in the calling thread, before sending it: True if it
        is this pool's to deliver (False: settled, gone, or another worker's)."""
        return token in self.leases.hold_callbacks([token], self.owner)

    def release(self, token: str) -> None:
        """Stop renewing `token`'s claim: its delivery is over (its outcome is stored next,
        while the claim still runs)."""
        with self._lock:
            self._held.discard(token)

    def settle(self, token: str, status: str, attempts: int) -> bool:
        """Store the outcome if the callback is still this pool's; False otherwise (its claim
        ran out and another worker delivers it, and records its own outcome)."""
        return self.leases.settle_callback(token, self.owner, status, attempts)

    def close(self) -> None:
        """Stop the keeper thread (after the pool has delivered what it held)."""
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _keep(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.leases.seconds / 3)
            self._wake.clear()
            self._renew()

    def _renew(self) -> None:
        with self._lock:
            tokens = set(self._held)
        if not tokens:
            return
        try:
            kept = self.leases.hold_callbacks(tokens, self.owner)
        except Exception as e:  # noqa: BLE001 - the database is down: the claims may outlive it
            log.warning("cannot renew the claims on %d callback(s): %s", len(tokens), e)
            return
        with self._lock:
            lost = (tokens - kept) & self._held
            self._held -= lost
        for token in sorted(lost):
            log.warning("callback for %s is no longer this worker's (its claim ran out and it "
                        "went to another worker, or its submission is gone); not renewed", token)
