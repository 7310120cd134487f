"""What one client of the live events sees: for each of its submissions, every event after
the one it saw last, each once and in order, until the final one.

First what the streams hold (judge/events.py), then what the hub hears (judge/event_hub.py).
The client's listener is registered before the streams are read, so an event is either in
what was read or still to be heard; one heard twice is dropped by its id. Where Redis has
nothing (a stream expired an hour after its last event, or Redis lost it), PostgreSQL says
where the submission stands, and a final submission still gets its final event. A check of
the database every CHECK_SECONDS covers a final event that was never announced (Redis was
down as the worker stored the verdict).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from judge import events
from judge.contract.statuses import is_final
from judge.event_hub import RESYNC, EventHub, Listener
from judge.events import Event
from judge.store.async_submissions import AsyncStorage

CHECK_SECONDS = 60.0


class Timeline:
    """The events of `listener`'s submissions for one client that has seen those up to
    `after` (token: event id, or None for nothing). `catch_up()` first, then `live()`."""

    def __init__(self, hub: EventHub, storage: AsyncStorage, listener: Listener,
                 after: Mapping[str, str | None] | None = None):
        self.hub, self.storage, self.listener = hub, storage, listener
        self.last = {token: (after or {}).get(token) for token in listener.tokens}
        self.pending = set(listener.tokens)

    @property
    def done(self) -> bool:
        """Every submission is final (a deleted one counts: nothing more will come)."""
        return not self.pending

    async def catch_up(self) -> list[tuple[str, Event]]:
        """What the streams hold after what the client saw, then the database's word where
        they hold nothing. Events made up from the database have id ""."""
        caught = []
        for token in self.listener.tokens:
            caught += await self._unseen(token)
        return caught + [item async for item in self._settle()]

    async def live(self, ping_seconds: float) -> AsyncIterator[tuple[str, Event] | None]:
        """Each event as it is heard, None after `ping_seconds` without one (the caller's
        keep-alive), until every submission is final."""
        loop = asyncio.get_running_loop()
        check_at = loop.time() + CHECK_SECONDS
        while self.pending:
            heard = await self.listener.next(ping_seconds)
            if loop.time() >= check_at:
                check_at = loop.time() + CHECK_SECONDS
                async for item in self._settle(unheard_only=True):
                    yield item
            if heard is None:
                yield None
                continue
            token, event = heard
            if event is RESYNC:  # the hub's connection was replaced: read the streams again
                for token in sorted(self.pending):
                    for item in await self._unseen(token):
                        yield item
            elif token in self.pending and \
                    events.order(event.id) > events.order(self.last[token] or ""):
                yield self._seen(token, event)

    def _seen(self, token: str, event: Event) -> tuple[str, Event]:
        self.last[token] = event.id
        if event.is_final:
            self.pending.discard(token)
        return token, event

    async def _unseen(self, token: str) -> list[tuple[str, Event]]:
        return [self._seen(token, event)
                for event in await self.hub.backlog(token, self.last[token])]

    async def _settle(self, unheard_only: bool = False) -> AsyncIterator[tuple[str, Event]]:
        """The database's word on the pending submissions: one that is final, or gone,
        leaves `pending` after the events of its stream the client has not seen, with a
        final event made up if the stream has none; one the client knows nothing of (no
        stream, no event seen) gets its status."""
        if not self.pending:
            return
        tokens = sorted(self.pending)
        rows = dict(zip(tokens, await self.storage.get_many(tokens), strict=True))
        told = await self.hub.finals(tokens)  # streams that end with their final event
        for token in tokens:
            row = rows[token]
            if row is None:
                yield self._seen(token, Event("", events.FINAL,
                                              {"status_id": None, "deleted": True}))
            elif is_final(int(row["status_id"])):
                unseen = await self._unseen(token)
                for item in unseen:
                    yield item
                if token not in told and not any(event.is_final for _, event in unseen):
                    yield self._seen(token, Event("", events.FINAL,
                                                  {"status_id": int(row["status_id"])}))
                self.pending.discard(token)
            elif self.last[token] is None and not unheard_only:
                yield token, Event("", events.STATUS, {"status_id": int(row["status_id"])})
