"""Lua scripts sent by their SHA1 (EVALSHA), not by their text, also inside pipelines.

redis-py's own `Script` checks, before every pipeline it is queued in, that Redis still has
it (SCRIPT EXISTS: a round trip more per pipeline); EVAL sends the whole text with every call
and makes Redis hash it again. Here a pipeline carries only the hash, and `execute` sends a
script Redis has forgotten (a restart, SCRIPT FLUSH) once more with its text, in place, so
its caller sees the reply it would have had; `call` and `call_async` do the same for a
single call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio

_BY_SHA: dict[str, Script] = {}  # every script made here, for `execute` to send again


class Script:
    def __init__(self, text: str):
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()
        _BY_SHA[self.sha] = self

    def queue(self, pipe: Any, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Add a call to `pipe` (a redis pipeline); send it with `execute`."""
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    def call(self, client: redis.Redis, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run it now, in one round trip while Redis has it."""
        try:
            return client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.execute_command("EVAL", self.text, len(keys), *keys, *args)

    async def call_async(self, client: redis.asyncio.Redis, keys: Sequence[Any],
                         args: Sequence[Any]) -> Any:
        """`call` on redis.asyncio."""
        try:
            return await client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return await client.execute_command("EVAL", self.text, len(keys), *keys, *args)


def execute(client: redis.Redis, pipe: redis.client.Pipeline) -> list[Any]:
    """`pipe.execute(raise_on_error=False)`: the replies in order, a failed command's error in
    its place; a script Redis had forgotten runs again, by its text, on `client`."""
    sent = [args for args, _ in pipe.command_stack]
    replies = pipe.execute(raise_on_error=False)
    for i, reply in enumerate(replies):
        if (again := _forgotten(sent, i, reply)) is not None:
            try:
                replies[i] = client.execute_command("EVAL", *again)
            except redis.exceptions.ResponseError as e:
                replies[i] = e
    return replies


def raise_errors(replies: list[Any]) -> list[Any]:
    """The replies, or the first error among them raised."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def _forgotten(sent: list[tuple], i: int, reply: Any) -> tuple | None:
    """EVAL's arguments for the i-th command when it was a script Redis did not have."""
    if not isinstance(reply, redis.exceptions.NoScriptError) or i >= len(sent):
        return None
    args = sent[i]
    script = _BY_SHA.get(str(args[1])) if len(args) > 1 and args[0] == "EVALSHA" else None
    return None if script is None else (script.text, *args[2:])
