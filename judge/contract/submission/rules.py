"""Turning a create request into submission attributes, exactly as Judge0's Rails model does:
attribute casting, base64 input decoding, defaults, then validation with Judge0's messages in
Judge0's order (§1, §4.1, §4.3, §9). Clients parse these 422 bodies, so the wording matters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from judge.config import Config
from judge.contract.languages import Language, LanguageCatalog
from judge.contract.submission.fields import effective_base64
from judge.contract.submission.request import BOOLEAN_ATTRIBUTES, cast_request, cast_value
from judge.contract.wire import ruby_float_str, to_decimal

__all__ = ["parse_create", "limit_errors", "Errors", "MAX_OPTION_LENGTH"]

Errors = dict[str, list[str]]

MAX_OPTION_LENGTH = 512

_STRING_ATTRIBUTES = ("compiler_options", "command_line_arguments", "callback_url")

# Numericality rules: (lower bound, whether it is strict). The upper bound is the config's
# MAX_<NAME>, and the default the config's <NAME>, for every one of these.
_NUMERIC_RULES: dict[str, tuple[int, bool]] = {
    "number_of_runs": (0, True),
    "cpu_time_limit": (0, False),
    "cpu_extra_time": (0, False),
    "wall_time_limit": (1, False),
    "memory_limit": (2048, False),
    "stack_limit": (0, False),
    "max_processes_and_or_threads": (0, True),
    "max_file_size": (0, False),
}
_PER_PROCESS_FLAGS = ("enable_per_process_and_thread_time_limit",
                      "enable_per_process_and_thread_memory_limit")

# Ruby's numericality validator: integers by regex, hex refused, the rest via Kernel#Float.
_INTEGER_LITERAL = re.compile(r"[+-]?[0-9]+")
_HEX_LITERAL = re.compile(r"[+-]?0[xX]")
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_FLOAT_LITERAL = re.compile(
    rf"[ \t\n\v\f\r]*[+-]?(?:{_DIGITS}(?:\.{_DIGITS})?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
    r"[ \t\n\v\f\r]*")
_RUBY_WHITESPACE = b" \t\n\v\f\r"


def parse_create(body: Mapping[str, Any], base64_encoded: bool | str | None, config: Config,
                 languages: LanguageCatalog) -> tuple[dict[str, Any] | None, Errors]:
    """Cast, decode, default and validate the attributes of a new submission.

    ``body`` holds the merged request parameters; only the 20 permitted keys are read, and an
    array or object given for one of them counts as absent. ``base64_encoded`` is the
    effective flag, or the raw query value (a string or None) to derive it from.

    Returns ``(attributes, {})`` with the 20 permitted columns ready to store (text as bytes,
    decimals as Decimal), or ``(None, errors)`` with the 422 body, e.g.
    ``{"language_id": ["can't be blank", "language with id  doesn't exist"]}``.
    """
    if not isinstance(base64_encoded, bool):
        base64_encoded = effective_base64(base64_encoded, config)
    attributes = cast_request(body, base64_encoded)

    # Defaults replace only nil (after casting): 0 and false are kept. The numericality
    # validator then looks at the value before casting, which is the default if one applied.
    before_cast: dict[str, Any] = {}
    for name in _NUMERIC_RULES:
        if attributes[name] is None:
            before_cast[name] = getattr(config, name)
            attributes[name] = cast_value(name, before_cast[name])
        else:
            before_cast[name] = body[name]
    for name in BOOLEAN_ATTRIBUTES:
        if attributes[name] is None:
            attributes[name] = getattr(config, name)

    errors = _validate(attributes, before_cast, config, languages)
    return (None, errors) if errors else (attributes, {})


def _validate(attributes: Mapping[str, Any], before_cast: Mapping[str, Any], config: Config,
              languages: LanguageCatalog) -> Errors:
    """Judge0's validators, in Judge0's order; keys appear in the order of their first error."""
    errors: Errors = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    language = languages.get(attributes["language_id"])
    is_project = language is not None and language.is_project

    source_blank = _blank_bytes(attributes["source_code"])
    if is_project and not source_blank:
        add("source_code", "must be blank")
    elif not is_project and source_blank:
        add("source_code", "can't be blank")
    if is_project and _blank_bytes(attributes["additional_files"]):
        add("additional_files", "can't be blank")
    if attributes["language_id"] is None:
        add("language_id", "can't be blank")

    for name in _NUMERIC_RULES:
        for message in _numericality_errors(name, before_cast[name], config):
            add(name, message)
        if name == "max_processes_and_or_threads":
            for flag in _PER_PROCESS_FLAGS:  # Judge0 checks them between these two numbers
                for message in limit_errors(flag, attributes[flag], config):
                    add(flag, message)

    for name in ("compiler_options", "command_line_arguments"):
        if len(attributes[name] or "") > MAX_OPTION_LENGTH:
            add(name, f"is too long (maximum is {MAX_OPTION_LENGTH} characters)")

    for name in _STRING_ATTRIBUTES:  # our addition: Judge0 answers these with a 500
        if not _storable_text(attributes[name]):
            add(name, "must not contain NUL characters or unpaired UTF-16 surrogates")

    language_error = _language_error(attributes["language_id"], language)
    if language_error:
        add("language_id", language_error)
    options_error = _compiler_options_error(attributes["compiler_options"], language, config)
    if options_error:
        add("compiler_options", options_error)
    if not _blank_text(attributes["command_line_arguments"]) and not config.enable_command_line_arguments:
        add("command_line_arguments", "setting command line arguments is not allowed")
    if not _blank_text(attributes["callback_url"]) and not config.enable_callbacks:
        add("callback_url", "setting callback is not allowed")
    if not _blank_bytes(attributes["additional_files"]) and not config.enable_additional_files:
        add("additional_files", "setting additional files is not allowed")
    if attributes["enable_network"] and not config.allow_enable_network:
        add("enable_network", "enabling network is not allowed")
    return errors


def limit_errors(name: str, value: Any, config: Config) -> list[str]:
    """Judge0's messages for limit `name` (one of judge/contract/submission/problem.py's
    LIMITS) set to `value`: a number within the bounds of the configuration's MAX_<NAME>,
    or a per-process flag the configuration allows. A problem's default limits are held to
    the same rules as a submission's (judge/contract/problem.py)."""
    if name in _PER_PROCESS_FLAGS:
        return ["this option cannot be enabled"] if value and not getattr(
            config, f"allow_{name}") else []
    return _numericality_errors(name, value, config)


def _numericality_errors(name: str, before_cast: Any, config: Config) -> list[str]:
    """Rails' numericality check on the value as given (so ``"abc"`` is not a number even
    though it casts to 0). Float maxima print like Ruby floats: ``15.0``."""
    number = _parse_number(before_cast)
    if number is None:
        return ["is not a number"]
    minimum, strict = _NUMERIC_RULES[name]
    maximum = getattr(config, f"max_{name}")
    errors = []
    if strict and not number > minimum:
        errors.append(f"must be greater than {minimum}")
    elif not strict and not number >= minimum:
        errors.append(f"must be greater than or equal to {minimum}")
    if not number <= to_decimal(maximum):
        shown = ruby_float_str(maximum) if isinstance(maximum, float) else str(maximum)
        errors.append(f"must be less than or equal to {shown}")
    return errors


def _language_error(language_id: int | None, language: Language | None) -> str | None:
    shown = "" if language_id is None else str(language_id)
    if language is None:
        return f"language with id {shown} doesn't exist"
    if language.is_archived:
        return f"language with id {shown} is archived and cannot be used anymore"
    if not language.available:
        return f"language with id {shown} is not available on this server"
    return None


def _compiler_options_error(options: str | None, language: Language | None,
                            config: Config) -> str | None:
    """§9.3: the switch, then compiled languages only, then the name-prefix allow-list."""
    if _blank_text(options):
        return None
    if not config.enable_compiler_options:
        return "setting compiler options is not allowed"
    if language is None:
        return None
    if not language.is_compiled:
        return "setting compiler options is only allowed for compiled languages"
    allowed = config.allowed_languages_for_compiler_options
    if allowed and not language.name.startswith(tuple(prefix + " " for prefix in allowed)):
        listed = allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} and {allowed[-1]}"
        return f"setting compiler options is only allowed for {listed}"
    return None


def _parse_number(value: Any) -> Decimal | None:
    """The number Rails' numericality validator sees in a raw value, or None if it sees none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float | Decimal):
        return _float_digits(value)
    if isinstance(value, str):
        if _INTEGER_LITERAL.fullmatch(value):
            return Decimal(int(value))
        if _HEX_LITERAL.match(value) or not _FLOAT_LITERAL.fullmatch(value):
            return None
        return _float_digits(float(value.strip().replace("_", "")))
    return None


def _float_digits(value: float | Decimal) -> Decimal | None:
    """A float as the validator compares it: rounded to 15 significant digits (Float::DIG)."""
    if not Decimal(value).is_finite():
        return None
    return Decimal(format(float(value), ".15g"))


def _storable_text(value: str | None) -> bool:
    """PostgreSQL text holds neither NUL nor lone surrogates (invalid in UTF-8)."""
    if value is None:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def _blank_bytes(value: bytes | None) -> bool:
    """Ruby ``blank?`` on a binary string: empty or only ASCII whitespace."""
    return value is None or not value.strip(_RUBY_WHITESPACE)


def _blank_text(value: str | None) -> bool:
    return value is None or not value.strip()
