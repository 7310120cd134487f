"""Process logging: one JSON object per line (``LOG_FORMAT=json``, the default) or readable
text (``LOG_FORMAT=text``), at ``LOG_LEVEL``, for the API and worker processes.

Every line carries ``time``, ``level``, ``logger`` and ``message``, plus the fields bound to
the current context: a worker binds ``worker`` for the whole process and ``token`` while it
judges a submission (:func:`bind`), so every line about a submission, whichever module logs
it, can be found by its token. Fields passed with ``extra=`` are included too.

Context fields live in a :mod:`contextvars` variable, so a thread started while judging sees
them only if it runs in a copy of the context (``contextvars.copy_context().run``).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, TextIO

FORMATS = ("json", "text")
ACCESS_LOGGER = "judge.access"
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_fields: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_fields", default=_NO_FIELDS)
_process_fields: dict[str, Any] = {}
# Attributes every LogRecord has; anything else on a record came from `extra=` or a filter.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
_SUBMISSION_PATH = re.compile(r"/submissions/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                              r"[0-9a-f]{4}-[0-9a-f]{12})")


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged in this context until the block ends."""
    reset = _fields.set({**_fields.get(), **fields})
    try:
        yield
    finally:
        _fields.reset(reset)


def bind_process(**fields: Any) -> None:
    """Add ``fields`` to every line this process logs, in every thread (e.g. ``worker``)."""
    _process_fields.update(fields)


def current_fields() -> dict[str, Any]:
    return {**_process_fields, **_fields.get()}


def access(remote: str | None, method: str, path: str, status: int, seconds: float) -> None:
    """The API's line for one request (api/app.py: AccessLog): ``method``, ``path`` (without
    its query string, which may hold credentials), ``status``, ``duration_ms``, ``remote``
    and the ``token`` of a ``/submissions/<token>`` request."""
    fields: dict[str, Any] = {"remote": remote, "method": method, "path": path,
                              "status": status, "duration_ms": round(seconds * 1000, 3)}
    match = _SUBMISSION_PATH.match(path)
    if match:
        fields["token"] = match.group(1)
    logging.getLogger(ACCESS_LOGGER).info("%s %s %s", method, path, status, extra=fields)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, milliseconds), level, logger, message, the context
    fields, ``extra=`` fields and, when there is one, the exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name}
        line["message"] = record.getMessage()
        line.update(current_fields())
        line.update(_extras(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value...`` for a human at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = {**current_fields(), **_extras(record)}
        suffix = " ".join(f"{key}={value}" for key, value in fields.items())
        if not suffix:
            return text
        head, newline, rest = text.partition("\n")  # fields stay on the message's line
        return f"{head} {suffix}{newline}{rest}"


def formatter(fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return JsonFormatter() if fmt == "json" else TextFormatter()


def level_of(name: str) -> int:
    level = logging.getLevelName(name.upper())
    if not isinstance(level, int):
        raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, "
                         f"got {name!r}")
    return level


class _Handler(logging.StreamHandler):
    """Ours, so that configuring again replaces it and leaves other handlers alone."""


def configure(fmt: str = "json", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send the root logger's records to ``stream`` (stderr) in ``fmt`` at ``level``, and
    reformat gunicorn's and uvicorn's own logs when running under them."""
    chosen = formatter(fmt)
    handler = _Handler(stream or sys.stderr)
    handler.setFormatter(chosen)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_of(level))
    for name in ("gunicorn.error", "uvicorn.error"):  # handlers gunicorn set up itself
        for existing in logging.getLogger(name).handlers:
            existing.setFormatter(chosen)
