"""Who is judging what, until when: the lease that lets a dead worker's submission be judged
again, the claim that lets a dead worker's callback be sent again, and the queries the
reconciler uses to find submissions and callbacks that would otherwise be stuck.

A worker claims a submission by moving it to Processing with `lease_until = now() + lease`,
renews the lease while it judges, and the final write ends it. Every step is one conditional
UPDATE, so the claims of two workers that received the same token cannot both succeed while
the first one is alive, and the first final write wins (judge/store/submissions.py).

Callbacks work the same way, with the same lease length: the final write leaves the callback
`pending` and unowned; the worker process delivering it claims it (`callback_owner`,
`callback_lease_until`) and renews the claim while the delivery waits in its pool or is under
way; storing the outcome ends it. Only a pending callback whose claim ran out is re-sent, so a
live worker's slow delivery is never doubled by the reconciler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator
from typing import Any

from psycopg import sql

# the storage module's row shape and token parsing: leases are part of the same data layer
from judge.contract.submission.fields import PERMITTED, parse_token
from judge.store.submissions import IN_QUEUE, PROCESSING, Storage

RECONCILE_LOCK_KEY = 0x4A554447_45303032  # one reconciliation pass at a time, fleet-wide
RESENT = "pending: re-sent"  # a dead worker's callback, handed to a live worker
# A callback waiting for its delivery; the same text as the index's (migration 0003).
_PENDING_CALLBACK = sql.SQL("callback_status IN ('pending', 'pending: re-sent')")
# What a claim returns: what judging reads (the attributes a client set, and a problem's
# columns), and the claim itself; not the other half of the row (a verdict's columns, the
# callback's), which the worker would receive and build into its dict on every claim.
CLAIMED_COLUMNS = (*PERMITTED, "token", "problem", "problem_version_id", "run_all_test_cases",
                   "status_id", "started_at", "execution_host", "worker_id", "lease_until")
_CLAIM = sql.SQL(" ".join((  # constants only: the statuses and the columns
    f"UPDATE submissions SET status_id = {PROCESSING}, started_at = now(),",  # noqa: S608
    "updated_at = now(), execution_host = %s, worker_id = %s,",
    "lease_until = now() + make_interval(secs => %s) WHERE token = %s AND",
    f"(status_id = {IN_QUEUE} OR (status_id = {PROCESSING} AND",
    "(lease_until IS NULL OR lease_until < now())))",
    f"RETURNING {', '.join(CLAIMED_COLUMNS)}")))


class Leases:
    def __init__(self, storage: Storage, seconds: float = 30.0):
        self.storage = storage
        self.seconds = seconds

    def claim(self, token: str, host: str, worker_id: str) -> dict[str, Any] | None:
        """Take a submission for judging: In Queue, or Processing under an expired lease.
        Returns the row, or None if it is final, gone, or held by a live worker."""
        key = parse_token(token)
        if key is None:
            return None
        return self._one(_CLAIM, [host, worker_id, self.seconds, key])

    def renew(self, token: str, worker_id: str) -> bool:
        """Extend our lease; False if the submission is no longer ours (finished, or taken
        over after our lease expired)."""
        row = self._one(
            "UPDATE submissions SET lease_until = now() + make_interval(secs => %s) "
            "WHERE token = %s AND status_id = %s AND worker_id = %s RETURNING 1 AS ok",
            [self.seconds, parse_token(token), PROCESSING, worker_id])
        return row is not None

    def _one(self, query: Any, params: list[Any]) -> dict[str, Any] | None:
        with self.storage.pool.connection() as conn:
            return conn.execute(query, params).fetchone()

    def _all(self, query: Any, params: list[Any]) -> list[dict[str, Any]]:
        with self.storage.pool.connection() as conn:
            return conn.execute(query, params).fetchall()

    def requeue_expired(self, limit: int = 500) -> list[str]:
        """Put Processing submissions whose lease ran out back In Queue; their tokens."""
        rows = self._all(
            "UPDATE submissions SET status_id = %s, queued_at = now(), updated_at = now(), "
            "worker_id = NULL WHERE id IN (SELECT id FROM submissions WHERE status_id = %s "
            "AND (lease_until IS NULL OR lease_until < now()) LIMIT %s "
            "FOR UPDATE SKIP LOCKED) RETURNING token",
            [IN_QUEUE, PROCESSING, limit])
        return [row["token"] for row in rows]

    def waiting_since(self, seconds: float, limit: int = 1000) -> list[str]:
        """In Queue submissions queued more than `seconds` ago, oldest first."""
        rows = self._all(
            "SELECT token FROM submissions WHERE status_id = %s AND "
            "coalesce(queued_at, created_at) < now() - make_interval(secs => %s) "
            "ORDER BY id LIMIT %s", [IN_QUEUE, seconds, limit])
        return [row["token"] for row in rows]

    def hold_callbacks(self, tokens: Collection[str], owner: str) -> set[str]:
        """Claim for `owner`, or renew its claim on, the pending callbacks of `tokens` that
        nobody else holds; the tokens it now holds. A pending callback has no owner only
        just after its verdict was stored or after the reconciler handed it over, so an owner
        loses one only by letting its claim run out until the reconciler gives it away."""
        keys = [key for key in map(parse_token, tokens) if key is not None]
        if not keys:
            return set()
        rows = self._all(sql.SQL(
            "UPDATE submissions SET callback_owner = %s, "
            "callback_lease_until = now() + make_interval(secs => %s) "
            "WHERE token = ANY(%s) AND {} AND (callback_owner IS NULL OR callback_owner = %s) "
            "RETURNING token").format(_PENDING_CALLBACK), [owner, self.seconds, keys, owner])
        return {str(row["token"]) for row in rows}

    def settle_callback(self, token: str, owner: str, status: str, attempts: int) -> bool:
        """Store how `owner`'s delivery went (the outcome of its last attempt and how many it
        made) and end its claim; False, storing nothing, if the callback is not its own."""
        row = self._one(sql.SQL(
            "UPDATE submissions SET callback_status = %s, callback_attempts = %s, "
            "callback_lease_until = NULL WHERE token = %s AND callback_owner = %s AND {} "
            "RETURNING 1 AS ok").format(_PENDING_CALLBACK),
            [status, attempts, parse_token(token), owner])
        return row is not None

    def orphaned_callbacks(self, seconds: float, limit: int = 100) -> list[tuple[str, str]]:
        """Pending callbacks whose owner's claim ran out (its worker died, or never claimed
        it), of submissions finished more than `seconds` ago; returned as (token,
        callback_url) and marked as re-sent, unowned but reserved for one lease, so that the
        live worker they are handed to claims them before any other pass can take them."""
        rows = self._all(sql.SQL(
            "UPDATE submissions SET callback_status = %s, callback_owner = NULL, "
            "callback_lease_until = now() + make_interval(secs => %s) WHERE id IN "
            "(SELECT id FROM submissions WHERE {} AND "
            "finished_at < now() - make_interval(secs => %s) AND "
            "(callback_lease_until IS NULL OR callback_lease_until < now()) AND "
            "status_id <> ALL(%s) LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING token, callback_url").format(_PENDING_CALLBACK),
            [RESENT, self.seconds, seconds, [IN_QUEUE, PROCESSING], limit])
        return [(str(row["token"]), row["callback_url"]) for row in rows]

    @contextlib.contextmanager
    def exclusive_pass(self) -> Iterator[bool]:
        """Yields True while this process holds the fleet-wide reconciliation lock (a
        transaction-scoped advisory lock), False when another process holds it."""
        with self.storage.pool.connection() as conn, conn.transaction():
            row = conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok",
                               [RECONCILE_LOCK_KEY]).fetchone()
            yield bool(row["ok"])
