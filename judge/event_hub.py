"""The API process's ear on the live events (judge/events.py): one Redis pub/sub connection
for all its waiting clients.

A client waiting for a verdict (`wait=true`), reading Server-Sent Events or a WebSocket costs
a `Listener` (a queue) registered here under its tokens, not a connection of its own: the hub
subscribes to a token's channel when its first listener comes and unsubscribes when its last
one goes, and one reader task hands every announcement to the listeners of its token.

`listen()` returns only once Redis has confirmed the subscription, so a caller that then
reads the submission's stream (or has not queued it yet) cannot miss an event between the
two. If the pub/sub connection breaks, the hub subscribes again on a new one and hands every
listener RESYNC, after which it reads the streams again (events sent meanwhile are there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable

import redis
import redis.asyncio

from judge import events
from judge.events import Event

log = logging.getLogger(__name__)
HUB_CHANNEL = "judge:live:hub"  # always subscribed, so the reader always has a connection
SUBSCRIBE_TIMEOUT = 10.0  # seconds Redis gets to confirm a subscription
RESYNC = Event("", "resync", {})  # the connection was replaced: read the streams again


class Listener:
    """What one client hears: (token, event) pairs, in the order announced. Lean on purpose
    (a deque and at most one future, no task): thousands wait at once, each holding one."""

    __slots__ = ("tokens", "_heard", "_waiter")

    def __init__(self, tokens: Iterable[str]):
        self.tokens = tuple(dict.fromkeys(tokens))
        self._heard: deque[tuple[str, Event]] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def deliver(self, token: str, event: Event) -> None:
        self._heard.append((token, event))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float | None) -> tuple[str, Event] | None:
        """The next (token, event), or None after `timeout` seconds without one."""
        if not self._heard:
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            timer = (loop.call_later(timeout, _expire, self._waiter)
                     if timeout is not None else None)
            try:
                await self._waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return self._heard.popleft() if self._heard else None


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventHub:
    def __init__(self, redis_url: str):
        self.redis = redis.asyncio.Redis.from_url(redis_url, health_check_interval=30)
        self._pubsub: redis.asyncio.client.PubSub | None = None
        self._listeners: dict[str, set[Listener]] = {}
        # one future per SUBSCRIBE sent for a token, resolved by its confirmation, in order
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, or (Redis is down) keep trying in the background: the API serves what
        needs no live events meanwhile."""
        self._pubsub = self.redis.pubsub()
        try:
            await self._pubsub.subscribe(HUB_CHANNEL)
        except (redis.RedisError, OSError) as e:
            log.warning("live events: cannot subscribe yet (%s); retrying", e)
            self._reader = asyncio.create_task(self._read(reconnect_first=True), name="event-hub")
            return
        self._reader = asyncio.create_task(self._read(), name="event-hub")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                await self._pubsub.aclose()
        await self.redis.aclose()

    @property
    def listening(self) -> int:
        """Tokens with at least one listener (for tests and metrics)."""
        return len(self._listeners)

    @contextlib.asynccontextmanager
    async def listen(self, tokens: Iterable[str]) -> AsyncIterator[Listener]:
        """A listener on `tokens`, subscribed (confirmed) when this enters, gone when it
        exits."""
        listener = Listener(tokens)
        fresh = [token for token in listener.tokens if token not in self._listeners]
        for token in listener.tokens:
            self._listeners.setdefault(token, set()).add(listener)
        try:
            if fresh:
                await asyncio.wait_for(self._subscribe(fresh), SUBSCRIBE_TIMEOUT)
            yield listener
        finally:
            gone = []
            for token in listener.tokens:
                others = self._listeners.get(token)
                if others is not None:
                    others.discard(listener)
                    if not others:
                        del self._listeners[token]
                        gone.append(token)
            if gone and self._pubsub is not None:
                with contextlib.suppress(redis.RedisError, OSError):
                    await self._pubsub.unsubscribe(*map(events.channel, gone))

    async def _subscribe(self, tokens: list[str]) -> None:
        loop = asyncio.get_running_loop()
        waits = []
        for token in tokens:
            future = loop.create_future()
            self._confirmations.setdefault(token, deque()).append(future)
            waits.append(future)
        assert self._pubsub is not None, "EventHub.start() was not awaited"
        await self._pubsub.subscribe(*map(events.channel, tokens))
        await asyncio.gather(*waits)

    async def backlog(self, token: str, after: str | None = None) -> list[Event]:
        """The events stored for `token`, oldest first; only those after `after` if given."""
        start = f"({after}" if events.is_event_id(after) else "-"
        entries = await self.redis.xrange(events.stream_key(token), start, "+")
        return [events.from_stream(entry_id, fields) for entry_id, fields in entries]

    async def finals(self, tokens: Iterable[str]) -> set[str]:
        """Those of `tokens` whose stream ends with the final event."""
        tokens = list(tokens)
        async with self.redis.pipeline(transaction=False) as pipe:
            for token in tokens:
                pipe.xrevrange(events.stream_key(token), "+", "-", count=1)
            lasts = await pipe.execute()
        return {token for token, last in zip(tokens, lasts, strict=True)
                if last and events.from_stream(*last[0]).is_final}

    async def wait_final(self, listener: Listener, timeout: float) -> set[str]:
        """Wait until every token of `listener` has had its final event, or `timeout`
        seconds; the tokens still unfinished. The listener must have been listening since
        before the tokens were queued, or the caller checks `finals` first."""
        loop = asyncio.get_running_loop()
        remaining = set(listener.tokens)
        deadline = loop.time() + timeout
        while remaining:
            heard = await listener.next(max(deadline - loop.time(), 0))
            if heard is None:
                break
            token, event = heard
            if event is RESYNC:
                remaining -= await self.finals(remaining)
            elif event.is_final:
                remaining.discard(token)
        return remaining

    # -- the reader ----------------------------------------------------------------------------

    async def _read(self, reconnect_first: bool = False) -> None:
        delay = 0.1
        if reconnect_first:
            await self._reconnect()
        while True:
            try:
                assert self._pubsub is not None
                message = await self._pubsub.get_message(timeout=None)
            except (redis.RedisError, OSError, RuntimeError) as e:  # RuntimeError: no connection
                log.warning("live events: the pub/sub connection failed (%s); reconnecting "
                            "in %.1f s", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                await self._reconnect()
                continue
            delay = 0.1
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict) -> None:
        kind = message["type"]
        if kind == "message":
            token = events.token_of_channel(message["channel"])
            listeners = self._listeners.get(token)
            if listeners:
                event = events.from_announcement(message["data"])
                for listener in listeners:
                    listener.deliver(token, event)
        elif kind == "subscribe":
            waiting = self._confirmations.get(events.token_of_channel(message["channel"]))
            if waiting:
                future = waiting.popleft()
                if not waiting:
                    del self._confirmations[events.token_of_channel(message["channel"])]
                if not future.done():
                    future.set_result(None)

    async def _reconnect(self) -> None:
        """A new connection subscribed to every token listened to, then RESYNC for all."""
        old, self._pubsub = self._pubsub, self.redis.pubsub()
        if old is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                await old.aclose()
        for waiting in self._confirmations.values():  # their subscriptions died with `old`
            for future in waiting:
                if not future.done():
                    future.set_exception(redis.ConnectionError("the pub/sub connection failed"))
        self._confirmations.clear()
        try:
            await self._pubsub.subscribe(HUB_CHANNEL)
            tokens = list(self._listeners)
            if tokens:
                reading = asyncio.create_task(self._confirm_while_reading(tokens))
                await asyncio.wait_for(reading, SUBSCRIBE_TIMEOUT)
        except (redis.RedisError, OSError, TimeoutError) as e:
            log.warning("live events: cannot subscribe again yet: %s", e)
            return  # the reader's next get_message fails and brings us back here
        for listener in {one for listeners in self._listeners.values() for one in listeners}:
            listener.deliver("", RESYNC)

    async def _confirm_while_reading(self, tokens: list[str]) -> None:
        """Subscribe to `tokens` and read until confirmed (the reader is busy reconnecting,
        so this reads for it)."""
        subscribing = asyncio.ensure_future(self._subscribe(tokens))
        while not subscribing.done():
            message = await self._pubsub.get_message(timeout=0.1)
            if message is not None:
                self._dispatch(message)
        await subscribing
