"""Callbacks (§8, §15 item 37) delivered by the live workers to a real HTTP receiver in this
process, on 127.0.0.1: the body, retries on connection errors only, every final status, the
signature, the address policy, and delivery beside (not before) the next submission."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.rows import dict_row

from judge.queue import JobQueue
from judge.store.submissions import Storage

from .conftest import E2E_REDIS_URL, SIGNING_SECRET, free_port
from .test_submissions import DEFAULT_KEYS, PY

C = 50


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A callback endpoint: `/ok` answers 200, `/500` answers 500, `/hold` waits until the
    test releases it. Every request is recorded."""

    def __init__(self) -> None:
        self.requests: queue.Queue[Received] = queue.Queue()
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.requests.put(Received(self.command, self.path, dict(self.headers),
                                               self.rfile.read(length)))
                if self.path.startswith("/hold"):
                    receiver.release.wait(30)
                self.send_response(500 if self.path.startswith("/500") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_GET = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 60) -> Received:
        return self.requests.get(timeout=timeout)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class HangUp:
    """Accepts TCP connections and closes them at once (the client sees an exception, not
    an HTTP answer), counting them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def callback_state(database_url: str, token: str, timeout: float = 60) -> dict:
    """callback_status and callback_attempts once the delivery is over."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, row_factory=dict_row, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT callback_status, callback_attempts FROM submissions "
                               "WHERE token = %s", [token]).fetchone()
            if row and row["callback_status"] not in (None, "pending"):
                return row
            time.sleep(0.05)
    raise AssertionError(f"the callback of {token} was not settled within {timeout}s")


def submit(engine, url: str, **attrs) -> str:
    body = {"source_code": "print('hello')", "language_id": PY, "callback_url": url, **attrs}
    resp = engine.post(body)
    assert resp.status_code == 201, resp.text
    return resp.json()["token"]


def test_a_finished_submission_is_put_once_with_the_default_fields_in_base64(
        engine, receiver, database_url):
    token = submit(engine, f"{receiver.url}/ok?x=1")
    got = receiver.next()
    assert (got.method, got.path) == ("PUT", "/ok?x=1")
    assert got.headers["Content-Type"] == "application/json"
    body = got.json()
    assert list(body) == DEFAULT_KEYS
    assert body["token"] == token
    assert body["stdout"] == "aGVsbG8K\n"  # base64 although the request did not ask for it
    assert body["status"] == {"id": 3, "description": "Accepted"}
    assert "X-Judge0-Signature-256" not in got.headers  # no secret on this engine
    assert callback_state(database_url, token) == {"callback_status": "delivered: HTTP 200",
                                                   "callback_attempts": 1}
    assert receiver.requests.empty()


def test_compilation_error_fires_the_callback_too(engine, receiver):
    token = submit(engine, f"{receiver.url}/ok", source_code="int main( {", language_id=C)
    body = receiver.next().json()
    assert body["token"] == token
    assert body["status"] == {"id": 6, "description": "Compilation Error"}
    assert "error" in base64.b64decode(body["compile_output"]).decode()
    assert body["time"] is None and body["stdout"] is None


def test_internal_error_fires_the_callback_too(engine, receiver, storage):
    """A submission whose language the workers do not know ends in status 13."""
    token = str(uuid.uuid4())
    storage.insert_submission({"token": token, "language_id": 987654, "source_code": b"x",
                               "callback_url": f"{receiver.url}/ok"})
    jobs = JobQueue(E2E_REDIS_URL, "1.14.0")
    try:
        jobs.enqueue(token)
    finally:
        jobs.close()
    body = receiver.next().json()
    assert body["token"] == token
    assert body["status"] == {"id": 13, "description": "Internal Error"}
    assert "987654" in base64.b64decode(body["message"]).decode()


def test_an_http_500_answer_counts_as_delivered_after_exactly_one_attempt(
        engine, receiver, database_url):
    token = submit(engine, f"{receiver.url}/500")
    assert receiver.next().path == "/500"
    assert callback_state(database_url, token) == {"callback_status": "delivered: HTTP 500",
                                                   "callback_attempts": 1}
    assert receiver.requests.empty()


def test_connection_refused_is_tried_callbacks_max_tries_times(engine, database_url):
    token = submit(engine, f"http://127.0.0.1:{free_port()}/nobody-listens")
    state = callback_state(database_url, token)
    assert state["callback_attempts"] == 3
    assert state["callback_status"].startswith("failed: ConnectionRefusedError")


def test_a_dropped_connection_is_retried_and_each_attempt_reaches_the_server(
        engine, database_url):
    hangup = HangUp()
    try:
        token = submit(engine, hangup.url)
        state = callback_state(database_url, token)
    finally:
        hangup.close()
    assert state["callback_attempts"] == 3 and hangup.accepted == 3
    assert state["callback_status"].startswith("failed: ")


def test_link_local_targets_are_refused_without_a_connection(engine, database_url):
    token = submit(engine, "http://169.254.169.254/latest/meta-data/")
    assert callback_state(database_url, token) == {
        "callback_status": "refused: 169.254.169.254 resolves to 169.254.169.254 is in "
                           "link-local (CALLBACKS_DENY)",
        "callback_attempts": 0}


def test_signed_callbacks_carry_an_hmac_of_the_exact_body(secured_engine, receiver):
    token = submit(secured_engine, f"{receiver.url}/ok")
    got = receiver.next()
    expected = hmac.new(SIGNING_SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Judge0-Signature-256"] == f"sha256={expected}"
    assert got.json()["token"] == token


def test_a_slow_receiver_does_not_hold_up_the_next_submission(secured_engine, receiver):
    """One worker: its callback waits for the receiver while it judges the next ones."""
    receiver.release.clear()
    try:
        held = submit(secured_engine, f"{receiver.url}/hold")
        assert receiver.next().json()["token"] == held  # the worker is now delivering
        for n in range(3):
            done = secured_engine.run({"source_code": f"print({n})", "language_id": PY})
            assert done["stdout"] == f"{n}\n"
        with Storage(secured_engine.database_url, max_size=1) as store:
            assert store.get_submission(held)["callback_status"] == "pending"
    finally:
        receiver.release.set()
    assert callback_state(secured_engine.database_url, held)["callback_status"] == \
        "delivered: HTTP 200"
