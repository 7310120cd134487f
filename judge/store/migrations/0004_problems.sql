-- Problems (beyond Judge0): stored test cases judged by one submission (docs/problems.md).
-- Test data is content-addressed: a file is stored once, in 1 MiB chunks, whoever uses it.
-- A problem's versions are immutable; an edit adds one, and a submission keeps its own.
-- test data, content-addressed (sha256 hex of the whole file), stored once whoever uses it
CREATE TABLE blobs (
    hash text PRIMARY KEY,            -- sha256 hex
    size bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE blob_chunks (            -- 1 MiB chunks, so nothing holds a whole file at once
    hash text NOT NULL REFERENCES blobs(hash) ON DELETE CASCADE,
    seq integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (hash, seq)
);
CREATE TABLE problems (
    id bigserial PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    current_version integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE problem_versions (       -- immutable once written: an edit adds a version
    id bigserial PRIMARY KEY,
    problem_id bigint NOT NULL REFERENCES problems(id) ON DELETE CASCADE,
    version integer NOT NULL,
    title text NOT NULL,
    limits jsonb NOT NULL,            -- {"cpu_time_limit": 2.0, "memory_limit": 256000, ...}
    checker jsonb NOT NULL,           -- see "Checkers"
    interactor jsonb,                 -- null, or {"source_code": <base64>, "language_id": N}
    files jsonb NOT NULL DEFAULT '{}',-- {"testlib.h": "<hash>"}: compiled with the checker/interactor
    total_bytes bigint NOT NULL,      -- test data + files, checked against PROBLEM_MAX_SIZE
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (problem_id, version)
);
CREATE TABLE problem_cases (
    version_id bigint NOT NULL REFERENCES problem_versions(id) ON DELETE CASCADE,
    idx integer NOT NULL,             -- 1-based, in order
    input_hash text NOT NULL REFERENCES blobs(hash),
    output_hash text NOT NULL REFERENCES blobs(hash),
    hidden boolean NOT NULL DEFAULT false,
    points numeric NOT NULL DEFAULT 1,
    PRIMARY KEY (version_id, idx)
);
ALTER TABLE submissions
    ADD COLUMN problem text,                                   -- the slug asked for
    ADD COLUMN problem_version_id bigint REFERENCES problem_versions(id) ON DELETE SET NULL,
    ADD COLUMN run_all_test_cases boolean NOT NULL DEFAULT false,
    ADD COLUMN test_cases jsonb,                               -- per-case results, see below
    ADD COLUMN passed_test_cases integer,
    ADD COLUMN total_test_cases integer,
    ADD COLUMN score numeric;
