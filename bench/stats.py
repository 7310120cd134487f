"""Small statistics shared by the benchmark scripts."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`; 0.0 for none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0
