"""Pagination of the lists (GET /submissions, GET /problems): Judge0's `page` and `per_page`
parameters and its `meta` object (§3.3)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from judge.contract.wire import ruby_to_i

DEFAULT_PER_PAGE = 20
_MAX_SQL_INT = 2**62  # LIMIT / OFFSET beyond this would overflow PostgreSQL's bigint
Row = TypeVar("Row")


def requested(q: Mapping[str, Any]) -> tuple[int, int] | str:
    """(page, per_page) from the parameters, or the 400 message."""
    page = _integer(q.get("page"), 1)
    per_page = _integer(q.get("per_page"), DEFAULT_PER_PAGE)
    if page <= 0:
        return f"invalid page: {page}"
    if per_page <= 0:  # Judge0 accepts 0 and then divides by it (a 500); we refuse it
        return f"invalid per_page: {per_page}"
    return page, per_page


async def fetch(page: int, per_page: int,
                rows: Callable[[int, int], Awaitable[tuple[list[Row], int]]]
                ) -> tuple[list[Row], int]:
    """`rows(page, per_page)`: the page and the total, also for a page far past the end."""
    if (page - 1) * per_page < _MAX_SQL_INT:
        return await rows(page, min(per_page, _MAX_SQL_INT))
    return [], (await rows(1, 1))[1]


def meta(page: int, per_page: int, total: int) -> dict[str, Any]:
    pages = max(math.ceil(total / per_page), 1)
    return {
        "current_page": page,
        "next_page": page + 1 if page < pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": pages,
        "total_count": total,
    }


def _integer(value: Any, default: int) -> int:
    """Rails' `params[:x].try(:to_i) || default`: absent gives the default, "abc" gives 0."""
    if value is None:
        return default
    if isinstance(value, str):
        return ruby_to_i(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)  # a JSON body's number
    return 0
