"""A problem as GET /problems shows it (docs/problems.md): its summary in the list, and the
document of one version, whose test data the API streams (api/resources/problem_data.py).

What a client without the authorization token never sees: the stdin and expected output of
hidden cases, and the sources of a custom checker and an interactor.
"""

from __future__ import annotations

import base64
import codecs
import json
from decimal import Decimal
from typing import Any

from judge.contract.wire import timestamp
from judge.store.problems import Case, ProblemSummary, StoredProblem


class NotText(ValueError):
    """Bytes asked for as plain text that are not UTF-8: the client must ask for base64."""


NOT_TEXT = ("some of the problem's text cannot be shown as UTF-8 text; "
            "ask for it with base64_encoded=true")


def points(value: Decimal) -> str:
    """A decimal string without exponent or trailing zeros: "1", "0.5", "100"."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def summary(problem: ProblemSummary) -> dict[str, Any]:
    return {"slug": problem.slug, "title": problem.title, "version": problem.version,
            "total_test_cases": problem.test_cases,
            "created_at": timestamp(problem.created_at),
            "updated_at": timestamp(problem.updated_at)}


def shows_data(case: Case, authorized: bool) -> bool:
    return authorized or not case.hidden


def document(stored: StoredProblem, authorized: bool, base64_encoded: bool) -> dict[str, Any]:
    """Everything but the test cases' data (see `case_head` and `Encoder`); NotText if a
    source to show is not UTF-8 and plain text was asked for."""
    version = stored.version
    return {
        "slug": version.slug, "title": version.title, "version": version.version,
        "current_version": stored.current_version,
        "created_at": timestamp(stored.created_at), "updated_at": timestamp(stored.updated_at),
        "limits": version.limits,
        "checker": _program(version.checker, authorized, base64_encoded),
        "interactor": version.interactor and _program(version.interactor, authorized,
                                                      base64_encoded),
        "files": sorted(version.files), "total_bytes": stored.total_bytes,
        "total_test_cases": len(version.cases),
        "test_cases": [case_head(case) for case in version.cases],
    }


def case_head(case: Case) -> dict[str, Any]:
    return {"index": case.index, "hidden": case.hidden, "points": points(case.points)}


def _program(program: dict[str, Any], authorized: bool, base64_encoded: bool) -> dict[str, Any]:
    """A checker or interactor: its source only for the token's holder."""
    shown = {key: value for key, value in program.items() if key != "source_code"}
    if authorized and "source_code" in program:
        shown["source_code"] = _text(program["source_code"], base64_encoded)
    return shown


def _text(data: bytes, base64_encoded: bool) -> str:
    if base64_encoded:
        return base64.b64encode(data).decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotText(NOT_TEXT) from None


class Encoder:
    """One file's bytes as the inside of a JSON string, chunk by chunk: base64 (no line
    breaks), or UTF-8 text escaped for JSON (NotText on bytes that are not UTF-8)."""

    def __init__(self, base64_encoded: bool):
        self.base64 = base64_encoded
        self._held = b""  # base64: the bytes past the last multiple of 3
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def feed(self, data: bytes, final: bool = False) -> bytes:
        if self.base64:
            data, cut = self._held + data, len(self._held + data)
            if not final:
                cut -= cut % 3
            self._held = data[cut:]
            return base64.b64encode(data[:cut])
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError:
            raise NotText(NOT_TEXT) from None
        return json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8")

    def end(self) -> bytes:
        return self.feed(b"", final=True)
