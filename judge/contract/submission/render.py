"""Rendering a stored submission as Judge0 renders it (§4.1, §5.1–§5.3).

Keys follow Judge0's attribute order, decimals are strings, timestamps carry milliseconds and
``Z``, and the six text attributes are either base64 (60-column lines) or plain ASCII: Judge0's
JSON encoder (json 2.3.0 on a binary string) refuses any byte >= 0x80 in plain mode, and
clients have learnt to answer that error by retrying with ``base64_encoded=true``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from judge.contract.languages import Language
from judge.contract.statuses import Status
from judge.contract.submission.fields import (
    ALL_ATTRIBUTES,
    DECIMAL_ATTRIBUTES,
    DEFAULT_FIELDS,
    PROBLEM_ATTRIBUTES,
    TEXT_ATTRIBUTES,
    TIMESTAMP_ATTRIBUTES,
)
from judge.contract.wire import decimal_str, encode64, timestamp

__all__ = [
    "serialize",
    "Utf8Error",
    "UTF8_ERROR_SINGLE",
    "UTF8_ERROR_MULTIPLE",
    "UTF8_ERROR_CREATE_WAIT",
]

# GET /submissions/:token answers 400 with this.
UTF8_ERROR_SINGLE = ("some attributes for this submission cannot be converted to UTF-8, "
                   "use base64_encoded=true query parameter")
# GET /submissions and GET /submissions/batch answer 400 with this.
UTF8_ERROR_MULTIPLE = ("some attributes for one or more submissions cannot be converted to UTF-8, "
                   "use base64_encoded=true query parameter")
# POST /submissions?wait=true answers 201 {"error": this, "token": ...}.
UTF8_ERROR_CREATE_WAIT = UTF8_ERROR_SINGLE


class Utf8Error(ValueError):
    """A selected text attribute is not ASCII and base64 was not requested (§5.3)."""

    def __init__(self, attribute: str) -> None:
        super().__init__(f"{attribute} contains bytes outside ASCII; use base64_encoded=true")
        self.attribute = attribute


class _LanguageLookup(Protocol):
    def get(self, language_id: int | None) -> Language | None: ...


def serialize(row: Mapping[str, Any], fields: Iterable[str] | None = None, base64: bool = False,
              languages: _LanguageLookup | None = None) -> dict[str, Any]:
    """The JSON object for one submission row.

    ``row`` uses the DB column names (``status_id``, ``language_id``; text as bytes, decimals
    as Decimal, timestamps as aware datetimes); missing columns render as null. ``fields`` is
    the output of :func:`judge.contract.submission.fields.parse_fields` (None: the default set). Raises
    :class:`Utf8Error` in plain mode when a selected text attribute has a byte >= 0x80.
    """
    wanted = set(DEFAULT_FIELDS if fields is None else fields)
    if getattr(fields, "star", False) and row.get("problem") is None:
        wanted.difference_update(PROBLEM_ATTRIBUTES)  # `*` on a Judge0 submission: Judge0's keys
    return {name: _render(name, row, base64, languages) for name in ALL_ATTRIBUTES
            if name in wanted}


def _render(name: str, row: Mapping[str, Any], base64: bool,
            languages: _LanguageLookup | None) -> Any:
    if name == "status":
        return _status(row.get("status_id"))
    if name == "language":
        return _language(row.get("language_id"), languages)
    value = row.get(name)
    if value is None:
        return None
    if name in TEXT_ATTRIBUTES:
        return encode64(bytes(value)) if base64 else _ascii(name, bytes(value))
    if name == "message":
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        return encode64(text.encode("utf-8")) if base64 else text
    if name == "additional_files":
        return encode64(bytes(value))
    if name in DECIMAL_ATTRIBUTES:
        return decimal_str(value)
    if name in TIMESTAMP_ATTRIBUTES:
        return timestamp(value)
    if name == "token":
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)  # an IntEnum such as Status renders as its number
    return value


def _ascii(name: str, value: bytes) -> str:
    if not value.isascii():
        raise Utf8Error(name)
    return value.decode("ascii")


def _status(status_id: int | None) -> dict[str, Any] | None:
    if status_id is None:
        return None
    try:
        return Status(status_id).as_json()
    except ValueError:
        return {"id": status_id, "description": None}


def _language(language_id: int | None, languages: _LanguageLookup | None) -> dict[str, Any] | None:
    language = languages.get(language_id) if languages is not None else None
    if language is None:
        return None
    return {"id": language.id, "name": language.name}
