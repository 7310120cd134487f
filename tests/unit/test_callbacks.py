"""judge/callbacks.py without a worker: the address policy, the signature, the body, and the
delivery rules against small servers on 127.0.0.1 (the e2e suite covers the worker's side).

No test measures a duration: the deadline is shown by what the receivers saw (how many
requests, how many attempts) and by the outcome recorded, never by a stopwatch."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.server
import ipaddress
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from judge.callbacks import AddressPolicy, Deliverer, payload, signature
from judge.config import Config

ip = ipaddress.ip_address


@pytest.mark.parametrize("address, refused", [
    ("169.254.169.254", True), ("fe80::1", True), ("::ffff:169.254.169.254", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.10", False), ("::1", False),
])
def test_by_default_only_link_local_addresses_are_refused(address, refused):
    assert (AddressPolicy(Config().callbacks_deny).refusal(ip(address)) is not None) == refused


@pytest.mark.parametrize("entries, address, refused", [
    (["loopback"], "127.0.0.1", True), (["loopback"], "::1", True),
    (["loopback"], "0.0.0.0", True), (["loopback"], "10.0.0.1", False),
    (["private"], "10.0.0.1", True), (["private"], "172.20.1.1", True),
    (["private"], "192.168.1.1", True), (["private"], "fd00::1", True),
    (["private"], "100.64.0.1", True), (["private"], "127.0.0.1", False),
    (["203.0.113.0/24"], "203.0.113.77", True), (["203.0.113.0/24"], "203.0.114.1", False),
    ([], "169.254.169.254", False),
])
def test_deny_entries_are_address_classes_or_networks(entries, address, refused):
    assert (AddressPolicy(entries).refusal(ip(address)) is not None) == refused


def test_an_unknown_deny_entry_is_a_configuration_error():
    with pytest.raises(ValueError, match="CALLBACKS_DENY: 'metadata' is neither"):
        AddressPolicy(["metadata"])


def test_signature_is_the_hex_hmac_sha256_of_the_body():
    body = b'{"token":"x"}'
    assert signature("s3cret", body) == "sha256=" + hmac.new(
        b"s3cret", body, hashlib.sha256).hexdigest()


def test_payload_is_the_default_fields_always_in_base64():
    row = {"token": "t", "stdout": b"hi\n", "status_id": 3, "time": Decimal("0.01"),
           "memory": 100, "message": "Exited with error status 1", "stderr": None}
    body = json.loads(payload(row))
    assert list(body) == ["stdout", "time", "memory", "stderr", "token", "compile_output",
                          "message", "status"]
    assert body["stdout"] == "aGkK\n" and body["time"] == "0.01"
    assert body["message"] == "RXhpdGVkIHdpdGggZXJyb3Igc3RhdHVzIDE=\n"


def deliverer(**settings) -> Deliverer:
    return Deliverer(replace(Config(), **settings))


def test_every_resolved_address_is_checked_before_connecting():
    """A name resolving to a public and a metadata address is refused, nothing is sent."""
    d = Deliverer(Config(), resolver=lambda host, port: [ip("192.0.2.1"), ip("169.254.169.254")])
    outcome = d.deliver("http://rebind.example/hook", b"{}")
    assert outcome.attempts == 0
    assert outcome.status == ("refused: rebind.example resolves to 169.254.169.254 is in "
                              "link-local (CALLBACKS_DENY)")


@pytest.mark.parametrize("url", ["ftp://host/x", "not a url", "http://", "http://h:99999/"])
def test_unusable_urls_are_refused_without_retrying(url):
    outcome = deliverer().deliver(url, b"{}")
    assert outcome.attempts == 0 and outcome.status.startswith("refused: ")


# Every connection this process attempts, seen through the interpreter's audit events (a hook
# cannot be removed, so it records only into the lists the `connects` fixture hands out).
_connect_logs: list[list[str]] = []


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect":
        for connects in _connect_logs:
            connects.append(args[1][0])


sys.addaudithook(_audit)


@pytest.fixture
def connects() -> Iterator[list[str]]:
    """The addresses this process connects to during the test."""
    log: list[str] = []
    _connect_logs.append(log)
    yield log
    _connect_logs.remove(log)


class Recorder(http.server.BaseHTTPRequestHandler):
    """/moved-N redirects with status N to /final; /to-metadata redirects to 169.254.169.254;
    /redirect?status=N&location=URL redirects with N to URL; anything else answers 204."""

    seen: list[tuple[str, str, bytes]] = []

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append((self.command, self.path, body))
        query = parse_qs(urlsplit(self.path).query)
        if self.path.startswith("/moved-"):
            self.send_response(int(self.path.rsplit("-", 1)[1]))
            self.send_header("Location", "/final")
        elif self.path == "/to-metadata":
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/latest")
        elif self.path.startswith("/redirect?"):
            self.send_response(int(query["status"][0]))
            self.send_header("Location", query["location"][0])
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_GET = _any

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler], host: str = "127.0.0.1"
            ) -> Iterator[str]:
    """A threaded HTTP server with `handler` on `host`; its base URL."""
    httpd = http.server.ThreadingHTTPServer((host, 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.seen = []
    with serving(Recorder) as url:
        yield url


@pytest.mark.parametrize("code, method, body", [(307, "PUT", b"{}"), (308, "PUT", b"{}"),
                                                (302, "GET", b""), (303, "GET", b"")])
def test_redirects_are_followed_as_httparty_does(server, code, method, body):
    outcome = deliverer().deliver(f"{server}/moved-{code}", b"{}")
    assert outcome.status == "delivered: HTTP 204" and outcome.attempts == 1
    assert Recorder.seen == [("PUT", f"/moved-{code}", b"{}"), (method, "/final", body)]


def test_a_redirect_to_a_denied_address_is_refused_without_connecting_to_it(server, connects):
    outcome = deliverer().deliver(f"{server}/to-metadata", b"{}")
    assert outcome.attempts == 1  # the first request was sent
    assert outcome.status == ("refused: 169.254.169.254 resolves to 169.254.169.254 is in "
                              "link-local (CALLBACKS_DENY)")
    assert [path for _, path, _ in Recorder.seen] == ["/to-metadata"]
    assert connects == ["127.0.0.1"]  # the receiver, and nothing at 169.254.169.254


class Target(Recorder):
    """A receiver of its own, to be the target of a redirect."""

    seen: list[tuple[str, str, bytes]] = []


def test_a_redirect_to_a_denied_network_is_refused_although_its_server_listens(
        server, connects):
    """The first hop is allowed (127.0.0.1), its redirect goes to a live server on a denied
    address (127.0.0.2); without the deny entry the same redirect reaches it."""
    Target.seen = []
    with serving(Target, host="127.0.0.2") as target:
        url = f"{server}/redirect?status=307&location={target}/hook"
        refused = deliverer(callbacks_deny=("127.0.0.2/32",)).deliver(url, b"{}")
        assert (Target.seen, connects) == ([], ["127.0.0.1"])
        allowed = deliverer(callbacks_deny=()).deliver(url, b"{}")
    assert refused.status == ("refused: 127.0.0.2 resolves to 127.0.0.2 is in 127.0.0.2/32 "
                              "(CALLBACKS_DENY)") and refused.attempts == 1
    assert allowed.status == "delivered: HTTP 204"
    assert Target.seen == [("PUT", "/hook", b"{}")]


class Lookups:
    """A DNS stand-in for names that no real server here knows: the answers, per lookup."""

    def __init__(self, *answers: list[str]):
        self.answers, self.names = list(answers), []

    def __call__(self, host: str, port: int) -> list:
        self.names.append(host)
        return [ip(a) for a in self.answers[min(len(self.names), len(self.answers)) - 1]]


def test_a_redirect_target_is_refused_if_any_of_its_addresses_is_denied(server, connects):
    lookups = Lookups(["127.0.0.1", "169.254.169.254"])
    port = server.rsplit(":", 1)[1]
    outcome = Deliverer(Config(), resolver=lookups).deliver(
        f"{server}/redirect?status=302&location=http://two-faced.test:{port}/final", b"{}")
    assert outcome.status == ("refused: two-faced.test resolves to 169.254.169.254 is in "
                              "link-local (CALLBACKS_DENY)")
    assert lookups.names == ["two-faced.test"]
    assert [path for _, path, _ in Recorder.seen] == [Recorder.seen[0][1]]  # the first only
    assert connects == ["127.0.0.1"]


def test_a_redirect_target_is_connected_at_the_address_its_one_lookup_gave(server, connects):
    """DNS rebinding: a second lookup would answer a metadata address; there is none."""
    lookups = Lookups(["127.0.0.1"], ["169.254.169.254"])
    port = server.rsplit(":", 1)[1]
    outcome = Deliverer(Config(), resolver=lookups).deliver(
        f"{server}/redirect?status=307&location=http://rebind.test:{port}/final", b"{}")
    assert outcome.status == "delivered: HTTP 204"
    assert lookups.names == ["rebind.test"]
    assert Recorder.seen[-1] == ("PUT", "/final", b"{}")
    assert connects == ["127.0.0.1", "127.0.0.1"]


def test_a_silent_receiver_times_out_on_every_attempt():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        port = silent.getsockname()[1]
        outcome = deliverer(callbacks_timeout=0.2, callbacks_max_tries=2).deliver(
            f"http://127.0.0.1:{port}/", b"{}")
    assert outcome.attempts == 2
    assert outcome.status.startswith("failed: TimeoutError")


class Trickler(http.server.BaseHTTPRequestHandler):
    """Answers every request with a 302 to /loop, sent a byte at a time over `answer_seconds`
    (each byte well within the socket timeout, so only a deadline can stop it)."""

    seen: list[tuple[str, str]] = []
    answer_seconds = 0.0
    ANSWER = b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n"

    def _any(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Trickler.seen.append((self.command, self.path))
        step = self.answer_seconds / len(self.ANSWER)
        try:
            for i in range(len(self.ANSWER)):
                self.wfile.write(self.ANSWER[i:i + 1])
                time.sleep(step)
        except OSError:
            pass  # cut off by the client
        self.close_connection = True

    do_PUT = do_GET = _any

    def log_message(self, *args: object) -> None:
        pass


def attempts_seen() -> list[list[tuple[str, str]]]:
    """The trickler's requests, one list per attempt (each attempt starts with the PUT)."""
    attempts: list[list[tuple[str, str]]] = []
    for request in Trickler.seen:
        if request[0] == "PUT":
            attempts.append([])
        attempts[-1].append(request)
    return attempts


@contextlib.contextmanager
def trickling(answer_seconds: float) -> Iterator[str]:
    Trickler.seen, Trickler.answer_seconds = [], answer_seconds
    with serving(Trickler) as url:
        yield f"{url}/start"


# 0.4 s per socket operation: an attempt's deadline is 1.2 s
TRICKLED = {"callbacks_timeout": 0.4, "callbacks_max_tries": 3}
OVERRUN = "failed: TimeoutError: the attempt did not finish within its deadline of 1.2 s"


def test_slow_redirects_share_one_deadline_per_attempt():
    """Each 302 takes at least 0.5 s (and each hop far less than the 1.2 s a hop once had to
    itself): an attempt reaches at most its third hop before its deadline, never the redirect
    limit (6 requests); the attempts are the 3 of CALLBACKS_MAX_TRIES, no more."""
    with trickling(answer_seconds=0.5) as url:
        outcome = deliverer(**TRICKLED).deliver(url, b"{}")
    assert outcome.attempts == 3 and outcome.status.startswith(OVERRUN)
    attempts = attempts_seen()
    assert len(attempts) == 3
    assert all(len(hops) <= 3 for hops in attempts), attempts
    assert all(hops[0] == ("PUT", "/start") and set(hops[1:]) <= {("GET", "/loop")}
               for hops in attempts)


def test_an_answer_trickled_a_byte_at_a_time_is_cut_at_the_deadline():
    """A byte every 0.11 s never trips the 0.4 s socket timeout; the deadline ends each
    attempt inside its first answer."""
    with trickling(answer_seconds=6.0) as url:
        outcome = deliverer(**TRICKLED).deliver(url, b"{}")
    assert outcome.attempts == 3 and outcome.status.startswith(OVERRUN)
    assert attempts_seen() == [[("PUT", "/start")]] * 3


def test_a_redirect_loop_ends_after_five_redirects_in_each_attempt():
    with trickling(answer_seconds=0.0) as url:
        outcome = deliverer(**TRICKLED).deliver(url, b"{}")
    assert (outcome.status, outcome.attempts) == ("failed: HTTPException: more than 5 "
                                                  "redirects", 3)
    assert [len(hops) for hops in attempts_seen()] == [6, 6, 6]


def test_a_lookup_that_never_answers_is_cut_at_the_deadline():
    """The name's DNS server never answers: each attempt gives up at its deadline."""
    answer = threading.Event()
    names = []

    def hanging(host: str, port: int) -> list:
        names.append(host)
        answer.wait(30)
        return [ip("127.0.0.1")]

    d = Deliverer(replace(Config(), callbacks_timeout=0.1, callbacks_max_tries=3),
                  resolver=hanging)
    try:
        outcome = d.deliver("http://slow-dns.test/hook", b"{}")
    finally:
        answer.set()
        d.close()
    assert outcome.attempts == 3
    assert outcome.status.startswith("failed: TimeoutError: the attempt did not finish "
                                     "within its deadline of 0.3 s")
    assert names == ["slow-dns.test"] * 3
