-- Indexes for deleting problems (judge/store/problems.py): a blob is removed only when no
-- case refers to it (and PostgreSQL checks the reference on every removal of a blob), and a
-- deleted version sets its submissions' problem_version_id to null; without these, each of
-- them scans a whole table.
CREATE INDEX problem_cases_input_hash_idx ON problem_cases (input_hash);
CREATE INDEX problem_cases_output_hash_idx ON problem_cases (output_hash);
CREATE INDEX submissions_problem_version_idx ON submissions (problem_version_id)
    WHERE problem_version_id IS NOT NULL;
