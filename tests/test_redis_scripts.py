"""Scripts sent by their hash (judge/redis_scripts.py), on a real Redis: a pipeline whose
scripts Redis has forgotten (a restart, SCRIPT FLUSH) still gets every reply in its place,
and a single call, on the plain client and on redis.asyncio alike."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio

from judge import redis_scripts
from judge.redis_scripts import Script

DOUBLE = Script("return redis.call('INCRBY', KEYS[1], ARGV[1]) * 2")


def queue_three(pipe) -> None:
    """A script call, a failing command and a script call again."""
    DOUBLE.queue(pipe, ["scripts:n"], [5])
    pipe.incr("scripts:text")  # not an integer: an error of its own, kept in its place
    DOUBLE.queue(pipe, ["scripts:n"], [1])


def check(replies: list) -> None:
    assert replies[0] == 10 and replies[2] == 12
    assert isinstance(replies[1], redis.exceptions.ResponseError)
    with pytest.raises(redis.exceptions.ResponseError, match="not an integer"):
        redis_scripts.raise_errors(replies)


@pytest.mark.parametrize("forgotten", [False, True], ids=["known", "forgotten"])
def test_a_pipeline_gets_every_scripts_reply_in_place(redis_conn, forgotten):
    redis_conn.set("scripts:text", "words")
    redis_conn.script_load(DOUBLE.text)
    if forgotten:
        redis_conn.script_flush()
    with redis_conn.pipeline(transaction=False) as pipe:
        queue_three(pipe)
        check(redis_scripts.execute(redis_conn, pipe))
    assert redis_conn.get("scripts:n") == b"6"
    assert DOUBLE.call(redis_conn, ["scripts:n"], [0]) == 12


def test_a_call_on_the_asyncio_client_survives_a_forgotten_script(redis_url, redis_conn):
    redis_conn.script_flush()

    async def main() -> list:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            return [await DOUBLE.call_async(client, ["scripts:n"], [5]),
                    await DOUBLE.call_async(client, ["scripts:n"], [1])]
        finally:
            await client.aclose()

    assert asyncio.run(main()) == [10, 12]
