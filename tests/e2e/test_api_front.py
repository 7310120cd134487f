"""The API no client can stall (issue 18): waiting clients hold no thread, slow clients meet
deadlines, one address cannot take every connection. Liveness is asserted by completion
(every request is answered, the others are served meanwhile), never by timing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import psycopg
import pytest

from .conftest import Engine, running_engine
from .rawhttp import connect, fetch, request_bytes, trickle
from .test_submissions import PY

FLOOD = 200  # waiting clients: six times the old 2 x 16 threads
SLOW = 60  # clients trickling their bodies


@pytest.fixture(scope="module")
def front(database_url, storage) -> Iterator[Engine]:
    """No workers (nothing gets judged, so waits last), short client deadlines, and a
    connection cap that applies to 127.0.0.2 (only 127.0.0.1 is a trusted proxy here). One
    API process: the cap is per process, and this makes its count exact."""
    env = {"WAIT_RESULT_TIMEOUT": "10", "CLIENT_HEADER_TIMEOUT": "2",
           "CLIENT_BODY_TIMEOUT": "8", "CLIENT_BODY_GRACE": "3", "CLIENT_BODY_MIN_RATE": "200",
           "MAX_CONNECTIONS_PER_CLIENT": "20", "TRUSTED_PROXIES": "127.0.0.1",
           "MAX_QUEUE_SIZE": "10000"}
    with running_engine(database_url, 4, env, workers=0, schema="api_front",
                        api_processes=1) as engine:
        yield engine


def stored(engine: Engine) -> int:
    with psycopg.connect(engine.database_url) as conn:
        return conn.execute("SELECT count(*) FROM submissions").fetchone()[0]


def body_of(source: str) -> bytes:
    return json.dumps({"source_code": source, "language_id": PY}).encode()


def test_a_flood_of_waiting_clients_leaves_the_api_answering(front):
    async def scenario():
        waiting = [asyncio.ensure_future(fetch(front.url, "POST", "/submissions?wait=true",
                                               body_of(f"print({i})")))
                   for i in range(FLOOD)]
        await asyncio.sleep(1)  # they are all in (or queued) by now
        statuses = [await fetch(front.url, "GET", "/statuses") for _ in range(20)]
        still_waiting = sum(not w.done() for w in waiting)
        return statuses, still_waiting, await asyncio.gather(*waiting)

    before = stored(front)
    statuses, still_waiting, answers = asyncio.run(scenario())
    # served while every one of the FLOOD clients waits (a thread per waiter could not)
    assert [a.status for a in statuses] == [200] * 20
    assert still_waiting == FLOOD
    assert [a.status for a in answers] == [201] * FLOOD  # each answered when its wait ended
    assert {a.json()["status"]["id"] for a in answers} == {1}  # as it stands: no worker here
    assert stored(front) - before == FLOOD


def test_clients_trickling_their_bodies_get_408_and_store_nothing(front):
    async def scenario():
        slow = [asyncio.ensure_future(trickle(front.url, "/submissions", body_of("print(1)"),
                                              pause=0.5))
                for _ in range(SLOW)]
        await asyncio.sleep(0.5)
        statuses = [await fetch(front.url, "GET", "/statuses") for _ in range(20)]
        created = await fetch(front.url, "POST", "/submissions", body_of("print(2)"))
        trickling = sum(not s.done() for s in slow)
        return statuses, created, trickling, await asyncio.gather(*slow)

    before = stored(front)
    statuses, created, trickling, answers = asyncio.run(scenario())
    assert [a.status for a in statuses] == [200] * 20
    assert trickling == SLOW  # served while every slow client was still sending
    assert created.status == 201  # a client sending its body at once is served meanwhile
    assert [a.status for a in answers] == [408] * SLOW
    error = answers[0].json()["error"]
    assert "slower than the 200" in error, error
    assert answers[0].headers["connection"] == "close"
    assert stored(front) - before == 1  # only the prompt client's


def test_a_body_that_never_finishes_meets_the_body_deadline(front):
    async def scenario():
        reader, writer = await connect(front.url)
        body = body_of("print(1)")
        writer.write(request_bytes("POST", "/submissions", "x", body)[:-5])  # all but 5 bytes
        await writer.drain()
        raw = await reader.read()
        writer.close()
        return raw

    raw = asyncio.run(scenario())
    assert raw.startswith(b"HTTP/1.1 408 ")
    assert b'"error": "the request body' in raw


def test_headers_that_never_finish_get_408(front):
    async def scenario():
        reader, writer = await connect(front.url)
        writer.write(b"GET /statuses HTTP/1.1\r\nHost: x\r\n")  # no blank line: never done
        await writer.drain()
        raw = await reader.read()
        idle_reader, idle_writer = await connect(front.url)  # says nothing at all
        idle = await idle_reader.read()
        writer.close()
        idle_writer.close()
        return raw, idle

    raw, idle = asyncio.run(scenario())
    for answer in (raw, idle):
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"the request headers did not arrive within 2 s" in answer


def test_one_address_cannot_hold_more_connections_than_its_cap(front):
    async def scenario():
        held = [await connect(front.url, source="127.0.0.2") for _ in range(20)]
        refused = await fetch(front.url, "GET", "/statuses", source="127.0.0.2")
        other = await fetch(front.url, "GET", "/statuses", source="127.0.0.3")
        proxy = [await connect(front.url, source="127.0.0.1") for _ in range(25)]
        proxied = await fetch(front.url, "GET", "/statuses", source="127.0.0.1")
        for _, writer in held + proxy:
            writer.close()
        await asyncio.sleep(0.5)  # the server sees them close
        again = await fetch(front.url, "GET", "/statuses", source="127.0.0.2")
        return refused, other, proxied, again

    refused, other, proxied, again = asyncio.run(scenario())
    assert refused.status == 429
    assert "20 connections from your address are open already" in refused.json()["error"]
    assert other.status == 200  # another address
    assert proxied.status == 200  # the trusted proxy speaks for many clients: no cap
    assert again.status == 200  # closed connections give their places back
