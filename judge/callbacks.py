"""Callbacks (§8): after a submission's final status is stored, PUT its default-field JSON,
always base64-encoded, to the submission's ``callback_url``.

Judge0 delivers synchronously at the end of the worker job, so a slow endpoint stalls that
worker. Here the job hands the token to a :class:`CallbackSender`, a small thread pool inside
the worker process (``CALLBACKS_THREADS``), and goes on judging; the outcome of the last
attempt is stored in ``callback_status`` / ``callback_attempts``. On a graceful shutdown the
worker waits for the deliveries it has queued. While a callback waits in the pool or is being
delivered, the worker keeps it claimed (judge/callback_claims.py); a worker that is killed
leaves ``callback_status = 'pending'`` behind with a claim nobody renews, and once that claim
has run out (and ``CALLBACKS_RESEND_AFTER`` has passed since the verdict) a live worker's
reconciler re-sends it (workers/reconciler.py). A slow delivery by a live worker is never
sent twice.

Judge0's delivery rules are kept: at most ``CALLBACKS_MAX_TRIES`` attempts, back to back,
retried only when an attempt raises (connection refused, DNS failure, timeout); any HTTP
answer, 4xx and 5xx included, counts as delivered. Redirects are followed as HTTParty does.
An attempt, its request and every redirect it follows, has one deadline
(``ATTEMPT_TIMEOUTS`` × ``CALLBACKS_TIMEOUT``): a receiver that trickles bytes or answers
redirect after slow redirect cannot hold a delivery thread longer than tries × deadline.

Beyond Judge0:

* ``CALLBACK_SIGNING_SECRET`` adds ``X-Judge0-Signature-256: sha256=<hex>``, the HMAC-SHA256
  of the exact body bytes, so a receiver can check the request came from this server.
* ``CALLBACKS_DENY`` refuses targets by address class (``link-local``, ``loopback``,
  ``private``) or CIDR network. The host name is resolved once per request, every address it
  resolves to is checked, and the connection goes to a checked address (never a second
  lookup), so DNS rebinding cannot slip past the check. The default refuses only link-local
  addresses (cloud metadata services at 169.254.169.254).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from judge import logs
from judge.callback_claims import CallbackClaims, new_owner
from judge.callback_transport import Attempt, PinnedHTTP, PinnedHTTPS
from judge.config import Config
from judge.contract.submission.fields import DEFAULT_FIELDS
from judge.contract.submission.render import serialize
from judge.metrics import CALLBACK_DELIVERIES, Recorder
from judge.store.leases import Leases
from judge.store.submissions import Storage

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Judge0-Signature-256"
MAX_REDIRECTS = 5  # HTTParty's default limit
# An attempt may take this many CALLBACKS_TIMEOUTs in all: a connect, a send and an answer that
# each take almost the whole timeout (what one request may take in Judge0) still fit.
ATTEMPT_TIMEOUTS = 3
DEADLINE_RULE = f"{ATTEMPT_TIMEOUTS} × CALLBACKS_TIMEOUT, redirects included"
DNS_THREADS = 4  # lookups in flight at once per worker process (see Deliverer._addresses)
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The address classes CALLBACKS_DENY may name. "loopback" includes the unspecified addresses,
# because connecting to 0.0.0.0 or :: reaches the local host on Linux.
ADDRESS_CLASSES: dict[str, tuple[str, ...]] = {
    "link-local": ("169.254.0.0/16", "fe80::/10"),
    "loopback": ("127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"),
}


class CallbackRefused(Exception):
    """The callback URL is unusable or its target is denied. ``sent``: whether this attempt
    had already sent a request (refused on a redirect) before being stopped."""

    sent = False


@dataclass(frozen=True)
class Outcome:
    """What became of a callback: ``status`` goes to ``callback_status``."""

    status: str
    attempts: int


class AddressPolicy:
    """The CALLBACKS_DENY setting: which resolved addresses a callback may not connect to."""

    def __init__(self, entries: Iterable[str]):
        self.networks: list[tuple[str, _Network]] = []
        for entry in entries:
            if entry in ADDRESS_CLASSES:
                self.networks += [(entry, ipaddress.ip_network(n)) for n in ADDRESS_CLASSES[entry]]
                continue
            try:
                self.networks.append((entry, ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(
                    f"CALLBACKS_DENY: {entry!r} is neither an address class "
                    f"({', '.join(ADDRESS_CLASSES)}) nor an IP network such as 10.1.0.0/16"
                ) from None

    def refusal(self, address: _IPAddress) -> str | None:
        """Why ``address`` is denied, or None if a callback may connect to it."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        for name, network in self.networks:
            if address.version == network.version and address in network:
                return f"{address} is in {name} (CALLBACKS_DENY)"
        return None


class _Resolver(Protocol):
    def __call__(self, host: str, port: int) -> list[_IPAddress]: ...


def resolve(host: str, port: int) -> list[_IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(row: Mapping[str, Any], languages: Any = None) -> bytes:
    """The callback body: the default fields, always base64-encoded (Judge0 issue #480)."""
    body = serialize(row, DEFAULT_FIELDS, base64=True, languages=languages)
    return json.dumps(body, separators=(",", ":")).encode()


class Deliverer:
    """Sends one callback with Judge0's retry rules, our address policy and our deadline."""

    def __init__(self, config: Config, resolver: _Resolver = resolve):
        self.tries = config.callbacks_max_tries
        self.timeout = config.callbacks_timeout
        self.deadline = ATTEMPT_TIMEOUTS * config.callbacks_timeout
        self.secret = config.callback_signing_secret
        self.policy = AddressPolicy(config.callbacks_deny)
        self.user_agent = f"judge (Judge0 API {config.judge0_version})"
        self.resolver = resolver
        self.tls = ssl.create_default_context()
        self.lookups = ThreadPoolExecutor(max_workers=DNS_THREADS,
                                          thread_name_prefix="callback-dns")

    def deliver(self, url: str, body: bytes) -> Outcome:
        headers = {"Content-Type": "application/json", "User-Agent": self.user_agent}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        attempts = 0
        error = "CALLBACKS_MAX_TRIES is 0"
        while attempts < self.tries:
            attempts += 1
            attempt = Attempt(self.deadline, DEADLINE_RULE)
            try:
                with attempt:
                    code = self._request(url, body, headers, attempt)
                return Outcome(f"delivered: HTTP {code}", attempts)
            except CallbackRefused as e:  # retrying cannot help
                return Outcome(f"refused: {e}", attempts if e.sent else attempts - 1)
            except (OSError, http.client.HTTPException, ValueError) as e:
                # whatever a socket cut by the deadline raised, say why it was cut
                cause = attempt.overrun() if attempt.overdue() else e
                error = f"{type(cause).__name__}: {cause}"
                log.info("callback to %s, attempt %d of %d: %s", url, attempts, self.tries, error)
        return Outcome(f"failed: {error}", attempts)

    def close(self) -> None:
        """Stop the lookup threads (a lookup still waiting on DNS ends on its own)."""
        self.lookups.shutdown(wait=False, cancel_futures=True)

    def _request(self, url: str, body: bytes, headers: dict[str, str], attempt: Attempt
                 ) -> int:
        """One attempt, following redirects (303 and 301/302 turn the PUT into a GET without
        a body, 307/308 keep it, as HTTParty does); the final HTTP status code. Every hop's
        target is resolved and checked against CALLBACKS_DENY like the first."""
        method, data = "PUT", body
        for hop in range(MAX_REDIRECTS + 1):
            try:
                response = self._send(method, url, data, headers, attempt)
            except CallbackRefused as e:
                e.sent = hop > 0
                raise
            location = response.getheader("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response.status
            url = urljoin(url, location)
            if response.status not in (307, 308):
                method, data = "GET", None
        raise http.client.HTTPException(f"more than {MAX_REDIRECTS} redirects")

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str],
              attempt: Attempt) -> http.client.HTTPResponse:
        conn = self._connection(url, attempt)
        try:
            conn.connect()
            target = urlsplit(url)
            path = (target.path or "/") + (f"?{target.query}" if target.query else "")
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            response.close()  # the status is all we need; never read an unbounded body
            if attempt.expired:  # http.client takes the cut for the end of the headers
                raise attempt.overrun()
            return response
        finally:
            attempt.unwatch()
            conn.close()

    def _connection(self, url: str, attempt: Attempt) -> http.client.HTTPConnection:
        """A connection to a checked address of the URL's host, not yet connected."""
        try:
            target = urlsplit(url)
            port = target.port
        except ValueError as e:
            raise CallbackRefused(f"invalid URL: {e}") from None
        if target.scheme not in ("http", "https") or not target.hostname:
            raise CallbackRefused(f"not an http(s) URL: {url[:200]!r}")
        port = port or (443 if target.scheme == "https" else 80)
        addresses = self._addresses(target.hostname, port, attempt)
        for address in addresses:
            reason = self.policy.refusal(address)
            if reason:
                raise CallbackRefused(f"{target.hostname} resolves to {reason}")
        timeout = min(self.timeout, attempt.left())
        if target.scheme == "https":
            return PinnedHTTPS(target.hostname, port, str(addresses[0]), timeout, attempt,
                               self.tls)
        return PinnedHTTP(target.hostname, port, str(addresses[0]), timeout, attempt)

    def _addresses(self, host: str, port: int, attempt: Attempt) -> list[_IPAddress]:
        """Every address of ``host``, looked up once. The lookup runs on a thread of its own
        because the system resolver knows no deadline, and the receiver's own DNS server may
        be as slow as it likes: at the deadline the attempt fails without waiting for it."""
        try:
            return [ipaddress.ip_address(host)]  # a literal: nothing to look up
        except ValueError:
            pass
        lookup = self.lookups.submit(self.resolver, host, port)
        try:
            return lookup.result(timeout=attempt.left())
        except TimeoutError:
            lookup.cancel()
            raise attempt.overrun() from None


class CallbackSender:
    """The worker's delivery pool: ``submit`` returns at once, a pool thread delivers.

    It has its own database connections (none while idle), so that deliveries still queued
    when the worker stops taking jobs can finish after the worker closed its own. Each
    callback it holds, queued or being delivered, stays claimed in the database under
    ``owner`` (judge/callback_claims.py), so the reconciler re-sends it only if this process
    dies.
    """

    def __init__(self, config: Config, languages: Any = None, metrics: Recorder | None = None,
                 owner: str | None = None):
        threads = max(config.callbacks_threads, 1)
        self.deliverer = Deliverer(config)  # checks CALLBACKS_DENY before any job runs
        self.languages = languages
        self.metrics = metrics  # counts deliveries by outcome (judge/metrics.py)
        self.storage = Storage(config.database_url, min_size=0, max_size=threads + 1,
                               timeout=config.database_timeout)  # + 1: the claims' renewals
        self.claims = CallbackClaims(Leases(self.storage, config.lease_seconds),
                                     owner or new_owner(config.hostname))
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="callback")

    def submit(self, token: str, url: str) -> None:
        """Queue the delivery of `token`'s pending callback (just judged, or handed over by the
        reconciler); with CALLBACKS_MAX_TRIES=0 there is nothing to send."""
        if self.deliverer.tries < 1:
            return
        self.claims.hold(token)
        self.pool.submit(self._deliver, token, url)

    def _deliver(self, token: str, url: str) -> None:
        with logs.bind(token=token):
            try:
                if not self.claims.take(token):
                    log.info("callback for %s is settled, gone or another worker's; skipped",
                             token)
                    return
                row = self.storage.get_submission(token)
                if row is None:  # deleted in the meantime: nothing to report
                    return
                outcome = self.deliverer.deliver(url, payload(row, self.languages))
                self.claims.release(token)
                if not self.claims.settle(token, outcome.status[:1000], outcome.attempts):
                    log.warning("callback for %s: %s, not stored: another worker took it over "
                                "after this one's claim ran out", token, outcome.status)
                    return
                log.info("callback for %s: %s after %d attempt(s)", token, outcome.status,
                         outcome.attempts)
                if self.metrics is not None:  # delivered, failed or refused
                    self.metrics.increment(CALLBACK_DELIVERIES, outcome.status.split(":")[0])
            except Exception:  # a failed delivery must never take the pool thread down
                log.exception("callback for %s could not be processed", token)
            finally:
                self.claims.release(token)

    def close(self) -> None:
        """Deliver what was queued (its claims renewed meanwhile), then stop."""
        self.pool.shutdown(wait=True)
        self.claims.close()
        self.deliverer.close()
        self.storage.close()
