"""Batches (§7, §15 items 11, 21–24) and the queue-size limit, against live engines."""

from __future__ import annotations

import base64
import uuid

from .conftest import wait_done
from .test_submissions import PY, wait_final

TOO_MANY = "number of submissions in a batch should be less than or equal to 20"
EMPTY = "there should be at least one submission in a batch"


def batch(engine, items, **params):
    return engine.http.post(f"{engine.url}/submissions/batch", json={"submissions": items},
                            params=params, timeout=90)


def batch_get(engine, tokens: str | None, **params):
    if tokens is not None:
        params["tokens"] = tokens
    return engine.http.get(f"{engine.url}/submissions/batch", params=params, timeout=30)


def test_mixed_batch_is_201_with_tokens_and_errors_in_place(engine):
    resp = batch(engine, [{"source_code": "print(1)", "language_id": PY},
                          {"source_code": "print(2)", "language_id": 123456789},
                          {"language_id": PY}])
    assert resp.status_code == 201
    first, second, third = resp.json()
    assert list(first) == ["token"] and uuid.UUID(first["token"]).version == 4
    assert second == {"language_id": ["language with id 123456789 doesn't exist"]}
    assert third == {"source_code": ["can't be blank"]}
    assert wait_final(engine, first["token"])["status"]["id"] == 3


def test_batch_with_only_invalid_items_is_422(engine):
    resp = batch(engine, [{"source_code": "x", "language_id": 123456789}, "not an object"])
    assert resp.status_code == 422
    assert resp.json() == [{"language_id": ["language with id 123456789 doesn't exist"]},
                           {"source_code": ["can't be blank"],
                            "language_id": ["can't be blank", "language with id  doesn't exist"]}]


def test_batch_size_limits(engine):
    item = {"source_code": "print(1)", "language_id": PY}
    resp = batch(engine, [item] * 21)
    assert resp.status_code == 400
    assert resp.json() == {"error": TOO_MANY}
    for body in ({"submissions": []}, {}, {"submissions": "x"}):
        resp = engine.http.post(f"{engine.url}/submissions/batch", json=body)
        assert resp.status_code == 400
        assert resp.json() == {"error": EMPTY}


def test_batch_get_returns_items_in_token_order_with_null_for_unknown(engine):
    tokens = [t["token"] for t in batch(engine, [
        {"source_code": "print('a')", "language_id": PY},
        {"source_code": "print('b')", "language_id": PY}]).json()]
    for token in tokens:
        wait_final(engine, token)
    unknown = str(uuid.uuid4())
    resp = batch_get(engine, f"{tokens[1]},{unknown},{tokens[0]},{tokens[0]}",
                     fields="stdout,status")
    assert resp.status_code == 200
    items = resp.json()["submissions"]
    assert [item and item["stdout"] for item in items] == ["b\n", None, "a\n", "a\n"]
    assert items[1] is None
    assert list(items[0]) == ["stdout", "status"]
    # a token with a leading space is unknown; a trailing comma is dropped
    spaced = batch_get(engine, f"{tokens[0]}, {tokens[1]},").json()["submissions"]
    assert len(spaced) == 2 and spaced[0] is not None and spaced[1] is None
    # the `tokens` header wins over the parameter
    resp = engine.http.get(f"{engine.url}/submissions/batch", headers={"tokens": tokens[1]},
                           params={"tokens": tokens[0], "fields": "stdout"})
    assert resp.json() == {"submissions": [{"stdout": "b\n"}]}


def test_batch_get_token_count_limits(engine):
    assert batch_get(engine, None).json() == {"error": EMPTY}
    assert batch_get(engine, " ").status_code == 400
    resp = batch_get(engine, ",".join(str(uuid.uuid4()) for _ in range(21)))
    assert resp.status_code == 400
    assert resp.json() == {"error": TOO_MANY}


def test_batch_get_checks_fields_and_the_utf8_rule(engine):
    assert batch_get(engine, str(uuid.uuid4()), fields="foo").json() == {
        "error": "invalid fields: [foo]"}
    token = batch(engine, [{"source_code": "print('ć')", "language_id": PY}]).json()[0]["token"]
    wait_done(engine, token)
    resp = batch_get(engine, token)
    assert resp.status_code == 400
    assert resp.json() == {"error": "some attributes for one or more submissions cannot be "
                                    "converted to UTF-8, use base64_encoded=true query parameter"}
    item = batch_get(engine, token, base64_encoded="true").json()["submissions"][0]
    assert base64.b64decode(item["stdout"]) == "ć\n".encode()


def test_batch_create_decodes_base64_items(engine):
    source = base64.b64encode(b"print(input()[::-1])").decode()
    items = batch(engine, [{"source_code": source, "language_id": PY,
                            "stdin": base64.b64encode(b"abc").decode()}],
                  base64_encoded="true").json()
    assert wait_final(engine, items[0]["token"])["stdout"] == "cba\n"


def test_batch_wait_returns_the_finished_items_in_place(engine):
    resp = batch(engine, [{"source_code": "print(6*7)", "language_id": PY},
                          {"source_code": "x", "language_id": 123456789},
                          {"source_code": "import sys; sys.exit(3)", "language_id": PY}],
                 wait="true", fields="token,stdout,status,exit_code")
    assert resp.status_code == 201
    done, error, failed = resp.json()
    assert list(done) == ["stdout", "token", "exit_code", "status"]
    assert done["stdout"] == "42\n" and done["status"] == {"id": 3, "description": "Accepted"}
    assert error == {"language_id": ["language with id 123456789 doesn't exist"]}
    assert failed["exit_code"] == 3 and failed["status"]["id"] == 11


def test_batch_wait_uses_the_base64_flag_and_checks_fields(engine):
    resp = batch(engine, [{"source_code": "print('hi')", "language_id": PY}], wait="true",
                 fields="nope")
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid fields: [nope]"}
    items = batch(engine, [{"source_code": "print('ć')", "language_id": PY}], wait="true",
                  base64_encoded="false").json()
    assert items[0]["error"].startswith("some attributes for this submission cannot be")
    encoded = base64.b64encode(b"print('\\u0107')").decode()
    item = batch(engine, [{"source_code": encoded, "language_id": PY}], wait="true",
                 base64_encoded="true").json()[0]
    assert base64.b64decode(item["stdout"]) == "ć\n".encode()


def test_batches_can_be_disabled(secured_engine):
    resp = batch(secured_engine, [{"source_code": "print(1)", "language_id": PY}])
    assert resp.status_code == 400
    assert resp.json() == {"error": "batched submissions are not allowed"}
    resp = batch_get(secured_engine, str(uuid.uuid4()))
    assert resp.status_code == 400
    assert resp.json() == {"error": "batched submissions are not allowed"}


def test_a_full_queue_is_503_for_single_and_batch_create_counting_the_batch(full_engine):
    """MAX_QUEUE_SIZE=3, nothing judged: what waits plus what is added may not exceed 3."""
    item = {"source_code": "print(1)", "language_id": PY}
    full = {"error": "queue is full"}
    resp = batch(full_engine, [item] * 4)
    assert (resp.status_code, resp.json()) == (503, full)
    assert batch(full_engine, [item] * 2).status_code == 201  # 2 waiting
    resp = batch(full_engine, [item] * 2)
    assert (resp.status_code, resp.json()) == (503, full)
    assert full_engine.post(item).status_code == 201  # 3 waiting
    resp = full_engine.post(item)
    assert (resp.status_code, resp.json()) == (503, full)
    resp = batch(full_engine, [item])
    assert (resp.status_code, resp.json()) == (503, full)
