"""Benchmarks: each script prints ours next to bare execution, measured in one run."""
