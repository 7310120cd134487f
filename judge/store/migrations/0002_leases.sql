-- Work leases: the worker judging a submission holds it until `lease_until` and renews the
-- lease while it works. A submission in Processing whose lease ran out belongs to a worker
-- that died; the reconciler puts it back In Queue (see judge/leases.py).
ALTER TABLE submissions
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN worker_id text;
