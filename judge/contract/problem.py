"""A problem as a client sends it (POST and PUT /problems): the marshmallow schema, and the
draft of a version it becomes (judge/problems/draft.py). docs/problems.md describes it.

Unlike a submission, whose attributes are cast as leniently as Judge0's Rails model casts
them, a problem is a new resource and is validated strictly: wrong types, unknown keys and
bad values are 422s naming the attribute, `{"limits.memory_limit": ["must be ..."]}` (nested
attributes by dotted path, test cases by their 1-based index). The limits are a submission's
and are held to the same bounds (judge/contract/submission/rules.py). Text (test data, the
sources of a checker and an interactor) is base64 when the request says `base64_encoded`, as
for submissions; a problem's files are always base64.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow.experimental.context import Context

from judge.config import Config
from judge.contract.submission.problem import LIMITS
from judge.contract.submission.rules import Errors, limit_errors
from judge.problems.draft import CaseDraft, ProblemDraft, TestFile, inline
from judge.problems.package import MAX_CASES

SLUG_PATTERN = r"\A[a-z0-9][a-z0-9-]{0,63}\Z"  # \Z: no trailing newline, unlike $
_FILE_NAME = r"\A[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}\Z"  # no folders, no dot files
SLUG = re.compile(SLUG_PATTERN)
MAX_FILES = 64
BUILTIN_CHECKERS = ("exact", "judge0", "tokens", "float", "lines-unordered")
DEFAULT_EPSILON = 1e-6  # the float checker's, absolute and relative
MAX_POINTS = 10**9


@dataclass(frozen=True)
class _Request:
    """What the fields need from the request, through marshmallow's context."""

    base64: bool
    config: Config


class _Boolean(ma.fields.Boolean):
    """true or false, nothing that merely looks like one."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class _Text(ma.fields.String):
    """Text as bytes: base64 when `base64` (always, or per the request's base64_encoded)."""

    def __init__(self, *, always_base64: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.always_base64 = always_base64

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.always_base64 or Context[_Request].get().base64:
            try:  # whitespace (line breaks) is fine, other characters are not
                return base64.b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError) as e:
                raise ma.ValidationError(f"is not valid base64 ({e})") from None
        return _utf8(text, "; send it in base64 with base64_encoded=true")


def _utf8(text: str, hint: str = "") -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ma.ValidationError(f"is not valid UTF-8 text (an unpaired surrogate){hint}"
                                 ) from None


def _number(default: Any) -> ma.fields.Field:
    """The field of a limit, typed like its configured default (judge/config.py)."""
    if isinstance(default, bool):
        return _Boolean()
    if isinstance(default, int):
        return ma.fields.Integer(strict=True)
    return ma.fields.Float(allow_nan=False)


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class _Title(ma.fields.String):
    """Text PostgreSQL can store: no NUL, no unpaired surrogate (not UTF-8)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        _utf8(text)
        if "\x00" in text:
            raise ma.ValidationError("must not contain NUL characters")
        return text


class _Limits(_Strict):
    @ma.validates_schema(skip_on_field_errors=False)  # the bounds of those of the right type
    def _bounds(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        errors = {name: messages for name in data
                  if (messages := limit_errors(name, data[name],
                                               Context[_Request].get().config))}
        if errors:
            raise ma.ValidationError(errors)


_Limits = _Limits.from_dict(  # type: ignore[misc]  # one field per limit, as a submission's
    {name: _number(Config.__dataclass_fields__[name].default) for name in LIMITS},
    name="Limits")


class _Program(_Strict):
    """A custom checker's or an interactor's source: compiled at creation (probe.py)."""

    source_code = _Text(required=True)
    language_id = ma.fields.Integer(strict=True, required=True)

    @ma.validates("source_code")
    def _not_blank(self, value: bytes, **kwargs: Any) -> None:
        if not value.strip():
            raise ma.ValidationError("can't be blank")


class _Checker(_Program):
    type = ma.fields.String(required=True,
                            validate=ma.validate.OneOf((*BUILTIN_CHECKERS, "custom")))
    absolute = ma.fields.Float(allow_nan=False, validate=ma.validate.Range(min=0))
    relative = ma.fields.Float(allow_nan=False, validate=ma.validate.Range(min=0))
    source_code = _Text()
    language_id = ma.fields.Integer(strict=True)

    @ma.validates_schema(skip_on_field_errors=True)
    def _fits_its_type(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        kind = data["type"]
        allowed = {"float": {"absolute", "relative"},
                   "custom": {"source_code", "language_id"}}.get(kind, set())
        errors = {name: [f"is not an option of the {kind} checker"]
                  for name in data if name != "type" and name not in allowed}
        if kind == "custom":
            errors.update({name: ["Missing data for required field."]
                           for name in ("source_code", "language_id") if name not in data})
        if errors:
            raise ma.ValidationError(errors)


class _Case(_Strict):
    stdin = _Text(load_default=b"")
    expected_output = _Text(load_default=b"")
    hidden = _Boolean(load_default=False)
    points = ma.fields.Decimal(allow_nan=False, load_default=Decimal(1),
                               validate=ma.validate.Range(min=0, max=MAX_POINTS))


class ProblemSchema(_Strict):
    """The body of POST and PUT /problems (multipart: the `problem` part)."""

    slug = ma.fields.String(required=True, validate=ma.validate.Regexp(
        SLUG_PATTERN, error="must be 1 to 64 lowercase letters, digits and dashes, "
                    "starting with a letter or a digit"))
    title = _Title(required=True, validate=ma.validate.Length(min=1, max=256))
    limits = ma.fields.Nested(_Limits, load_default=dict)
    checker = ma.fields.Nested(_Checker, load_default=lambda: {"type": "judge0"})
    interactor = ma.fields.Nested(_Program, allow_none=True, load_default=None)
    files = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Regexp(
            _FILE_NAME, error="is not a safe file name (letters, digits, _ . + -; no "
                              "folders; not starting with a dot)")),
        values=_Text(always_base64=True), load_default=dict,
        validate=ma.validate.Length(max=MAX_FILES))
    test_cases = ma.fields.List(ma.fields.Nested(_Case),
                                validate=ma.validate.Length(min=1, max=MAX_CASES))
    visible_cases = ma.fields.List(ma.fields.Integer(strict=True,
                                                     validate=ma.validate.Range(min=1)))


_SCHEMA = ProblemSchema()  # loading keeps no state: the request is in the context


ZipTests = Sequence[tuple[TestFile, TestFile]]


def parse_problem(body: Any, base64_encoded: bool, config: Config,
                  zip_tests: ZipTests | None = None, ignored: Sequence[str] = (),
                  slug: str | None = None) -> tuple[ProblemDraft | None, Errors]:
    """The draft of a version from a request body, or (None, the 422 body).

    `zip_tests`: the cases of the request's zip (package.read_tests), if it had one;
    `ignored`: body keys that are not the problem's (the access tokens' parameters);
    `slug`: the path's, for PUT (the body may leave it out, not change it)."""
    if not isinstance(body, Mapping):
        return None, {"problem": ["must be a JSON object"]}
    body = {key: value for key, value in body.items() if key not in ignored}
    if slug is not None:
        if body.setdefault("slug", slug) != slug:
            return None, {"slug": [f"is {slug!r} in the path; a problem cannot be renamed"]}
    try:
        with Context(_Request(base64_encoded, config)):
            loaded = _SCHEMA.load(body)
    except ma.ValidationError as e:
        return None, _flattened(e.messages)
    cases, errors = _cases(loaded, zip_tests)
    if errors:
        return None, errors
    draft = ProblemDraft(
        slug=loaded["slug"], title=loaded["title"], limits=loaded["limits"],
        checker=_stored_program(_with_epsilons(loaded["checker"])),
        interactor=loaded["interactor"] and _stored_program(loaded["interactor"]),
        files={name: inline(data) for name, data in loaded["files"].items()}, cases=cases)
    limit = config.problem_max_size * 1024
    if draft.total_bytes > limit:
        return None, {"test_cases": [
            f"the test data and files are {draft.total_bytes} bytes, more than the "
            f"{limit} a problem may hold (PROBLEM_MAX_SIZE={config.problem_max_size} KB)"]}
    return draft, {}


def _cases(loaded: Mapping[str, Any],
           zip_tests: ZipTests | None) -> tuple[tuple[CaseDraft, ...], Errors]:
    """Inline cases, or the zip's (hidden but for `visible_cases`, a point each)."""
    inline_cases = loaded.get("test_cases")
    if inline_cases is not None and zip_tests is not None:
        return (), {"test_cases": ["give the test cases inline or as a zip (the tests "
                                   "part), not both"]}
    if zip_tests is None:
        if "visible_cases" in loaded:
            return (), {"visible_cases": ["is for the cases of a zip (the tests part); "
                                          "inline cases say hidden themselves"]}
        if inline_cases is None:
            return (), {"test_cases": ["a problem needs test cases: inline, or a zip of "
                                       "N.in and N.out files as the tests part"]}
        return tuple(CaseDraft(inline(case["stdin"]), inline(case["expected_output"]),
                               case["hidden"], case["points"])
                     for case in inline_cases), {}
    visible = set(loaded.get("visible_cases", ()))
    beyond = sorted(index for index in visible if index > len(zip_tests))
    if beyond:
        return (), {"visible_cases": [f"the zip has {len(zip_tests)} cases, there is no "
                                      f"case {', '.join(map(str, beyond))}"]}
    return tuple(CaseDraft(given, answer, index not in visible)
                 for index, (given, answer) in enumerate(zip_tests, 1)), {}


def _with_epsilons(checker: dict[str, Any]) -> dict[str, Any]:
    if checker["type"] != "float":
        return checker
    return {"absolute": DEFAULT_EPSILON, "relative": DEFAULT_EPSILON, **checker}


def _stored_program(program: Mapping[str, Any]) -> dict[str, Any]:
    """As the version stores it: source_code in base64 (judge/store/problems.py)."""
    if "source_code" not in program:
        return dict(program)
    return {**program, "source_code": base64.b64encode(program["source_code"]).decode()}


def _flattened(messages: Any, path: str = "") -> Errors:
    """marshmallow's nested errors as `{"a.b": [...]}`; list positions 1-based (the cases'
    indexes); a schema-wide error under its parent's name, a file's under `files.<name>`."""
    if isinstance(messages, list | str):
        return {path or "problem": [messages] if isinstance(messages, str) else messages}
    flat: Errors = {}
    for key, inner in messages.items():
        dict_part = key in ("key", "value") and path.startswith("files.")  # a file's name
        name = path if key == "_schema" or dict_part else (
            f"{path}.{key + 1 if isinstance(key, int) else key}" if path
            else str(key + 1 if isinstance(key, int) else key))
        for found, listed in _flattened(inner, name).items():
            flat.setdefault(found, []).extend(listed)
    return flat
