"""A submission's live events: every status change, kept and announced in Redis.

Each event is appended to the submission's stream (``judge:events:<token>``, kept for
EVENTS_TTL seconds after the last one) and announced on its channel (``judge:live:<token>``)
by one script, so a listener learns the stream id it was stored under. The stream serves
late subscribers and resumes (SSE's Last-Event-ID: the events after a given id); the channel
wakes the waiting ones (`wait=true`, SSE, WebSocket: judge/event_hub.py) without anyone
polling. PostgreSQL stays the source of truth: the final event says only that the verdict is
stored, and readers take the submission from the database.

Who adds what: the API adds In Queue when it queues a submission, in the same round trip;
the worker adds Processing in the script that takes the job from the queue (under RQ's own
worker loop: once it claims the submission), ``compiled`` after its compile step and
``final`` in the pipeline that ends the job. The script that adds an event goes by its hash
(judge/redis_scripts.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from judge.redis_scripts import Script

STREAM_KEY = "judge:events:{token}"
CHANNEL = "judge:live:{token}"
EVENTS_TTL = 3600  # seconds a submission's stream outlives its last event
MAX_EVENTS = 1000  # per submission, trimmed approximately (a problem with many test cases)

STATUS, COMPILED, TEST_CASE, FINAL = "status", "compiled", "test_case", "final"
KINDS = (STATUS, COMPILED, TEST_CASE, FINAL)

# Lua, for the scripts that add an event (ADD, and the API's queueing in judge/queue.py).
# The announcement is "<id>\n<kind>\n<data>".
ADD_FUNCTION = """
local function add_event(stream, channel, kind, data, max_events, ttl)
  local id = redis.call('XADD', stream, 'MAXLEN', '~', max_events, '*', 'kind', kind,
                        'data', data)
  redis.call('EXPIRE', stream, ttl)
  redis.call('PUBLISH', channel, id .. '\\n' .. kind .. '\\n' .. data)
  return id
end
"""
# Lua: whether a stream's last event is final (its fields in add_event's order).
ENDED_FUNCTION = f"""
local function ended(stream)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  return last ~= nil and last[2][2] == '{FINAL}'
end
"""
# KEYS: the stream, the channel. ARGV: kind, data (JSON), max events, TTL.
ADD = Script(ADD_FUNCTION + "return add_event(KEYS[1], KEYS[2], unpack(ARGV))")


@dataclass(frozen=True)
class Event:
    id: str  # the stream id, e.g. "1733580000000-0"
    kind: str
    data: dict[str, Any]

    @property
    def is_final(self) -> bool:
        return self.kind == FINAL


def stream_key(token: str) -> str:
    return STREAM_KEY.format(token=token)


def channel(token: str) -> str:
    return CHANNEL.format(token=token)


def token_of_channel(name: bytes | str) -> str:
    name = name.decode() if isinstance(name, bytes) else name
    return name.removeprefix(CHANNEL.format(token=""))


def add(pipe: Any, token: str, kind: str, data: dict[str, Any] | None = None) -> None:
    """Queue the event on `pipe` (a redis pipeline); its owner sends it with
    judge/redis_scripts.py's `execute`."""
    ADD.queue(pipe, *_call(token, kind, data))


def send(client: redis.Redis, token: str, kind: str, data: dict[str, Any] | None = None) -> None:
    """Add the event now (one round trip)."""
    ADD.call(client, *_call(token, kind, data))


def _call(token: str, kind: str, data: dict[str, Any] | None) -> tuple[tuple, tuple]:
    return (stream_key(token), channel(token)), arguments(kind, data)


def arguments(kind: str, data: dict[str, Any] | None) -> tuple:
    """ADD's ARGV for an event (ADD_FUNCTION's after its stream and channel)."""
    return kind, json.dumps(data or {}, separators=(",", ":")), MAX_EVENTS, EVENTS_TTL


def status(pipe: Any, token: str, status_id: int) -> None:
    add(pipe, token, STATUS, {"status_id": int(status_id)})


def final(pipe: Any, token: str, status_id: int) -> None:
    add(pipe, token, FINAL, {"status_id": int(status_id)})


def from_announcement(payload: bytes | str) -> Event:
    text = payload.decode() if isinstance(payload, bytes) else payload
    event_id, kind, data = text.split("\n", 2)
    return Event(event_id, kind, json.loads(data))


def from_stream(entry_id: bytes | str, fields: dict[bytes, bytes]) -> Event:
    entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return Event(entry_id, fields[b"kind"].decode(), json.loads(fields[b"data"]))


def order(event_id: str) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence); an id that is not one sorts first."""
    ms, _, seq = event_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return -1, -1


def is_event_id(value: str | None) -> bool:
    return value is not None and order(value) != (-1, -1)
