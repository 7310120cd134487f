"""Judging a submission in a sandbox: the pipeline (extract, compile once, run, verdict), the
shared compile cache and its stored artifacts, and each language's self-tests."""
