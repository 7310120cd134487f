"""Live events (beyond Judge0): Server-Sent Events and WebSockets, in order, resumable, with
GET's access rules; the final event is the submission as GET renders it."""

from __future__ import annotations

import json
import uuid

import pytest
import redis
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from .conftest import AUTHN, E2E_REDIS_URL, wait_done
from .test_submissions import PY, C

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n'
SLOW_PY = "import time\ntime.sleep(0.5)\nprint('late')"


def sse(engine, token: str, headers: dict | None = None, **params) -> list[dict]:
    """Every event of the stream until the server ends it: {"event", "id", "data"}."""
    resp = requests.get(f"{engine.url}/submissions/{token}/events", params=params,
                        headers=headers or {}, stream=True, timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    events, current = [], {}
    for line in resp.iter_lines(decode_unicode=True):
        if not line:
            if current:
                events.append(current)
            current = {}
        elif line.startswith("event: "):
            current["event"] = line[7:]
        elif line.startswith("id: "):
            current["id"] = line[4:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
    return events


def ids_increase(events: list[dict]) -> bool:
    keys = [tuple(int(part) for part in e["id"].split("-")) for e in events]
    return keys == sorted(keys) and len(set(keys)) == len(keys)


def test_sse_sends_every_status_change_in_order_then_the_submission(engine):
    source = HELLO_C + f"// {uuid.uuid4()}\n"  # never compiled before: not from the cache
    token = engine.post({"source_code": source, "language_id": C}).json()["token"]
    events = sse(engine, token)
    assert [e["event"] for e in events] == ["status", "status", "compiled", "final"]
    assert [e["data"]["status"]["description"] for e in events[:2]] == ["In Queue",
                                                                       "Processing"]
    assert events[2]["data"] == {"token": token, "cached": False}
    assert ids_increase(events)
    assert events[-1]["data"] == engine.get(f"/submissions/{token}").json()  # GET's format


def test_the_final_event_follows_fields_and_base64_encoded(engine):
    token = engine.post({"source_code": "print('hello')", "language_id": PY}).json()["token"]
    final = sse(engine, token, fields="stdout,status_id", base64_encoded="true")[-1]
    assert final["data"] == {"stdout": "aGVsbG8K\n", "status_id": 3}


def test_last_event_id_resumes_after_it_and_nothing_follows_the_final_event(engine):
    token = engine.post({"source_code": SLOW_PY, "language_id": PY}).json()["token"]
    events = sse(engine, token)
    resumed = sse(engine, token, headers={"Last-Event-ID": events[0]["id"]})
    assert resumed == events[1:]
    assert sse(engine, token, last_event_id=events[1]["id"]) == events[2:]  # the parameter
    after_final = requests.get(f"{engine.url}/submissions/{token}/events", timeout=30,
                               headers={"Last-Event-ID": events[-1]["id"]})
    assert after_final.status_code == 204  # an EventSource stops reconnecting


def test_a_listener_joining_late_hears_what_it_missed_first(engine):
    token = engine.post({"source_code": SLOW_PY, "language_id": PY}).json()["token"]
    wait_done(engine, token)
    events = sse(engine, token)
    assert [e["event"] for e in events] == ["status", "status", "final"]
    assert events[-1]["data"]["stdout"] == "late\n"


def test_a_stream_redis_lost_is_told_from_the_database(engine):
    token = engine.post({"source_code": "print(1)", "language_id": PY}).json()["token"]
    wait_done(engine, token)
    with redis.Redis.from_url(E2E_REDIS_URL) as client:
        assert client.delete(f"judge:events:{token}") == 1
    [final] = sse(engine, token)
    assert final["event"] == "final" and "id" not in final  # made up from the row
    assert final["data"]["stdout"] == "1\n"


def test_unknown_tokens_and_bad_fields_get_judge0s_errors(engine):
    unknown = requests.get(f"{engine.url}/submissions/00000000-0000-4000-8000-000000000000"
                           "/events", timeout=10, headers={"Accept": "application/json"})
    assert unknown.status_code == 404
    assert unknown.json() == {"status": 404, "error": "Not Found"}
    token = engine.post({"source_code": "print(1)", "language_id": PY}).json()["token"]
    bad = requests.get(f"{engine.url}/submissions/{token}/events", timeout=10,
                       params={"fields": "stdout,nope"})
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid fields: [nope]"})


def ws_url(engine, path: str) -> str:
    return engine.url.replace("http://", "ws://") + path


def received(socket) -> list[dict]:
    return [json.loads(message) for message in socket]


def test_a_websocket_carries_the_same_events_then_closes_with_1000(engine):
    token = engine.post({"source_code": HELLO_C, "language_id": C}).json()["token"]
    with ws_connect(ws_url(engine, f"/submissions/{token}/ws")) as socket:
        messages = received(socket)
        code = socket.close_code
    assert code == 1000
    assert [m["event"] for m in messages] == ["status", "status", "compiled", "final"]
    assert all(m["token"] == token for m in messages)
    assert messages[-1]["data"] == engine.get(f"/submissions/{token}").json()


def test_one_websocket_follows_a_batch_until_every_submission_is_final(engine):
    tokens = [engine.post({"source_code": source, "language_id": PY}).json()["token"]
              for source in ("print(1)", SLOW_PY, "print(3)")]
    path = f"/submissions/batch/ws?tokens={','.join(tokens)}&fields=stdout"
    with ws_connect(ws_url(engine, path)) as socket:
        messages = received(socket)
    finals = {m["token"]: m["data"] for m in messages if m["event"] == "final"}
    assert finals == {tokens[0]: {"stdout": "1\n"}, tokens[1]: {"stdout": "late\n"},
                      tokens[2]: {"stdout": "3\n"}}
    for token in tokens:  # each submission's own events stay in order
        mine = [m for m in messages if m["token"] == token and m["id"]]
        assert ids_increase(mine) and mine[-1]["event"] == "final"


def test_a_websocket_for_an_unknown_token_is_refused(engine):
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(ws_url(engine, "/submissions/00000000-0000-4000-8000-000000000000/ws"))
    assert refused.value.response.status_code == 403


def test_live_events_need_the_authentication_token_like_get(secured_engine):
    token = secured_engine.post({"source_code": "print(1)", "language_id": PY}).json()["token"]
    anonymous = requests.get(f"{secured_engine.url}/submissions/{token}/events", timeout=10)
    assert anonymous.status_code == 401
    assert sse(secured_engine, token, headers=AUTHN)[-1]["event"] == "final"
    with pytest.raises(InvalidStatus):
        ws_connect(ws_url(secured_engine, f"/submissions/{token}/ws"))
    with ws_connect(ws_url(secured_engine, f"/submissions/{token}/ws?X-Auth-Token=alpha")) \
            as socket:
        assert received(socket)[-1]["event"] == "final"
