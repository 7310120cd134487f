-- Callback claims: the worker process that is to deliver a submission's callback holds it
-- until `callback_lease_until` and renews the claim while the delivery waits in its pool or
-- is under way, as the work lease does for judging. A callback still pending whose claim ran
-- out (or was never taken) lost its worker; the reconciler has it sent again
-- (judge/store/leases.py). `callback_owner` stays after delivery: who delivered it.
ALTER TABLE submissions
    ADD COLUMN callback_owner text,
    ADD COLUMN callback_lease_until timestamptz;

-- The reconciler looks for pending callbacks every pass; they are few among millions of
-- settled ones, so the index holds only them.
CREATE INDEX submissions_pending_callbacks_idx ON submissions (finished_at)
    WHERE callback_status IN ('pending', 'pending: re-sent');
