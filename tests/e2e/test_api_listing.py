"""GET /submissions (§3.3) and DELETE /submissions/{token} (§3.4), §15 items 18–20, on an
engine with its own tables (exact counts) and authorization configured."""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Iterator

import pytest

from judge.store.submissions import Storage

from .conftest import AUTHZ
from .test_submissions import PY


@pytest.fixture(scope="module")
def store(secured_engine) -> Iterator[Storage]:
    """The secured engine's own tables."""
    with Storage(secured_engine.database_url, max_size=2) as storage:
        yield storage


def listing(engine, headers=AUTHZ, **params):
    return engine.http.get(f"{engine.url}/submissions", params=params, headers=headers,
                           timeout=30)


def delete(engine, token: str, headers=AUTHZ, **params):
    return engine.http.delete(f"{engine.url}/submissions/{token}", params=params,
                              headers=headers, timeout=30)


def test_listing_needs_authorization(secured_engine):
    resp = listing(secured_engine, headers={})
    assert (resp.status_code, resp.content) == (403, b"")


def test_listing_pages_newest_first_with_meta(secured_engine, store):
    tokens = [secured_engine.run({"source_code": f"print({n})", "language_id": PY})["token"]
              for n in range(3)]
    total = store.list_submissions(1, 1)[1]
    resp = listing(secured_engine, per_page="2", fields="token,stdout")
    assert resp.status_code == 200
    body = resp.json()
    assert [item["token"] for item in body["submissions"]] == tokens[::-1][:2]
    assert list(body["submissions"][0]) == ["stdout", "token"]
    pages = math.ceil(total / 2)
    assert body["meta"] == {"current_page": 1, "next_page": 2 if pages > 1 else None,
                            "prev_page": None, "total_pages": pages, "total_count": total}
    second = listing(secured_engine, page="2", per_page="2").json()
    assert second["meta"]["current_page"] == 2 and second["meta"]["prev_page"] == 1
    assert list(second["submissions"][0]) == ["stdout", "time", "memory", "stderr", "token",
                                              "compile_output", "message", "status"]
    past = listing(secured_engine, page="1000", per_page="2").json()
    assert past["submissions"] == [] and past["meta"]["next_page"] is None
    assert past["meta"]["prev_page"] == 999
    default = listing(secured_engine).json()
    assert len(default["submissions"]) == min(total, 20)
    huge = listing(secured_engine, page="99999999999999999999", per_page="99999999999999999999")
    assert huge.status_code == 200 and huge.json()["submissions"] == []


@pytest.mark.parametrize("params, error", [
    ({"page": "0"}, "invalid page: 0"),
    ({"page": "-4"}, "invalid page: -4"),
    ({"page": "abc"}, "invalid page: 0"),
    ({"page": ""}, "invalid page: 0"),
    ({"per_page": "-1"}, "invalid per_page: -1"),
    ({"per_page": "0"}, "invalid per_page: 0"),  # Judge0 divides by it (500); we refuse it
    ({"fields": "foo", "page": "0"}, "invalid fields: [foo]"),
])
def test_invalid_pages(secured_engine, params, error):
    resp = listing(secured_engine, **params)
    assert resp.status_code == 400
    assert resp.json() == {"error": error}


def test_listing_applies_the_utf8_rule_to_every_item(secured_engine):
    token = secured_engine.run({"source_code": "print('ü')", "language_id": PY})["token"]
    try:
        resp = listing(secured_engine)
        assert resp.status_code == 400
        assert resp.json() == {"error": "some attributes for one or more submissions cannot "
                                        "be converted to UTF-8, use base64_encoded=true query "
                                        "parameter"}
        encoded = listing(secured_engine, base64_encoded="true").json()["submissions"]
        assert base64.b64decode(encoded[0]["stdout"]) == "ü\n".encode()
    finally:
        assert delete(secured_engine, token).status_code == 200


def test_delete_returns_the_deleted_submission_in_base64(secured_engine):
    token = secured_engine.run({"source_code": "print('bye')", "language_id": PY})["token"]
    resp = delete(secured_engine, token, fields="stdout,status", base64_encoded="false")
    assert resp.status_code == 200
    assert resp.json() == {"stdout": "YnllCg==\n", "status": {"id": 3, "description": "Accepted"}}
    assert secured_engine.get(f"/submissions/{token}").status_code == 404
    assert delete(secured_engine, token).status_code == 404


def test_delete_refuses_unfinished_submissions(secured_engine, store):
    queued, processing = str(uuid.uuid4()), str(uuid.uuid4())
    for token, status in ((queued, 1), (processing, 2)):
        store.insert_submission({"token": token, "language_id": PY, "source_code": b"x",
                                 "status_id": status})
    try:
        resp = delete(secured_engine, queued)
        assert (resp.status_code, resp.json()) == (400, {
            "error": "submission cannot be deleted because its status is 1 (In Queue)"})
        resp = delete(secured_engine, processing)
        assert (resp.status_code, resp.json()) == (400, {
            "error": "submission cannot be deleted because its status is 2 (Processing)"})
    finally:
        with store.pool.connection() as conn:
            conn.execute("DELETE FROM submissions WHERE token = ANY(%s)",
                         [[uuid.UUID(queued), uuid.UUID(processing)]])


def test_delete_checks_in_judge0s_order(secured_engine, full_engine, engine):
    unknown = str(uuid.uuid4())
    assert delete(secured_engine, unknown, headers={"X-Auth-Token": None}).status_code == 401
    assert delete(secured_engine, unknown, headers={}).status_code == 403  # authn only
    resp = delete(secured_engine, unknown, fields="nope")
    assert resp.json() == {"error": "invalid fields: [nope]"}
    assert delete(secured_engine, unknown).status_code == 404
    assert delete(secured_engine, "not-a-token").status_code == 404
    resp = delete(full_engine, unknown, headers={"X-Auth-User": "root"})
    assert (resp.status_code, resp.json()) == (400, {"error": "delete not allowed"})
    assert delete(engine, unknown, headers={}).status_code == 403
