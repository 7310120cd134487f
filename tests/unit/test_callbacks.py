"""judge/callbacks.py without a worker: the address policy, the signature, the body, and the
delivery rules against small servers on 127.0.0.1 (the e2e suite covers the worker's side)."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

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


class Recorder(http.server.BaseHTTPRequestHandler):
    """/moved-N redirects with status N to /final; /to-metadata redirects to 169.254.169.254."""

    seen: list[tuple[str, str, bytes]] = []

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Recorder.seen.append((self.command, self.path, body))
        if self.path.startswith("/moved-"):
            self.send_response(int(self.path.rsplit("-", 1)[1]))
            self.send_header("Location", "/final")
        elif self.path == "/to-metadata":
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/latest")
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_GET = _any

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("code, method, body", [(307, "PUT", b"{}"), (308, "PUT", b"{}"),
                                                (302, "GET", b""), (303, "GET", b"")])
def test_redirects_are_followed_as_httparty_does(server, code, method, body):
    outcome = deliverer().deliver(f"{server}/moved-{code}", b"{}")
    assert outcome.status == "delivered: HTTP 204" and outcome.attempts == 1
    assert Recorder.seen == [("PUT", f"/moved-{code}", b"{}"), (method, "/final", body)]


def test_a_redirect_to_a_denied_address_is_refused(server):
    outcome = deliverer().deliver(f"{server}/to-metadata", b"{}")
    assert outcome.attempts == 1  # the first request was sent
    assert outcome.status.startswith("refused: 169.254.169.254 resolves to")


def test_a_silent_receiver_times_out_on_every_attempt():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        port = silent.getsockname()[1]
        outcome = deliverer(callbacks_timeout=0.2, callbacks_max_tries=2).deliver(
            f"http://127.0.0.1:{port}/", b"{}")
    assert outcome.attempts == 2
    assert outcome.status.startswith("failed: TimeoutError")
