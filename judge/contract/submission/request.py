"""A create request's 20 permitted attributes, cast as Judge0's Rails model casts them: a
marshmallow schema whose fields never fail (Rails casts silently: "abc" becomes 0, "" becomes
nil), so that validation can then run in Judge0's own order with Judge0's messages (rules.py).

What marshmallow's validation cannot express, and rules.py therefore does by hand: errors keyed
in the order of their first occurrence across validators (Rails' order, not field order);
numericality checked on the value as given before the cast, or on the default when the cast
gave nil; defaults that replace only nil after casting (0 and false are kept); rules that span
attributes (the language decides whether source_code must be blank).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import marshmallow as ma

from judge.contract.submission.fields import PERMITTED
from judge.contract.wire import decode64, ruby_float_str, ruby_to_d, ruby_to_i

__all__ = ["BOOLEAN_ATTRIBUTES", "CreateRequest", "cast_request", "cast_value"]

BOOLEAN_ATTRIBUTES = ("enable_per_process_and_thread_time_limit",
                      "enable_per_process_and_thread_memory_limit",
                      "redirect_stderr_to_stdout", "enable_network")
# Rails' boolean cast: these are false, "" is nil, anything else is true.
_FALSE_VALUES = (False, 0, "0", "f", "F", "false", "FALSE", "off", "OFF")


def _cast_integer(value: Any) -> int | None:
    """Rails' integer cast: true→1, false→0, blank string→nil, otherwise Ruby ``to_i``."""
    if isinstance(value, bool):
        return int(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return ruby_to_i(value)
    except ValueError:  # NaN and infinity: Rails rescues the cast to nil
        return None


def _cast_decimal(value: Any) -> Decimal | None:
    """Rails' decimal cast: like the integer cast but keeping the fraction (``to_d``)."""
    if isinstance(value, bool):
        return Decimal(int(value))
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return ruby_to_d(value)
    except ValueError:
        return None


def _cast_boolean(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    return value not in _FALSE_VALUES


def _cast_string(value: Any) -> str | None:
    """Rails' string cast (true→"t", false→"f", numbers as Ruby prints them). Judge0 would
    answer 500 when a number reaches the base64 decoder; we decode its text instead."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return ruby_float_str(value)
    return str(value)


def _cast_text(value: Any, *, decode: bool) -> bytes | None:
    text = _cast_string(value)
    if text is None:
        return None
    return decode64(text) if decode else text.encode("utf-8", errors="surrogatepass")


class _Cast(ma.fields.Field):
    """An attribute with a Rails cast. An array or object given for it counts as absent."""

    def __init__(self, cast: Callable[[Any], Any]):
        super().__init__(allow_none=True)
        self.cast = cast

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> Any:
        return None if isinstance(value, list | dict | tuple) else self.convert(value)

    def convert(self, value: Any) -> Any:
        return self.cast(value)


class _Text(_Cast):
    """Text that is base64 when the request says so (`base64_encoded`)."""

    def __init__(self) -> None:
        super().__init__(_cast_string)

    def convert(self, value: Any) -> Any:
        return _cast_text(value, decode=self.parent.base64)  # type: ignore[union-attr]


def _integer() -> _Cast:
    return _Cast(_cast_integer)


def _decimal() -> _Cast:
    return _Cast(_cast_decimal)


def _boolean() -> _Cast:
    return _Cast(_cast_boolean)


def _string() -> _Cast:
    return _Cast(_cast_string)


class CreateRequest(ma.Schema):
    """The attributes a client may set (fields.PERMITTED); anything else is ignored."""

    class Meta:
        unknown = ma.EXCLUDE

    source_code = _Text()
    language_id = _integer()
    compiler_options = _string()
    command_line_arguments = _string()
    number_of_runs = _integer()
    stdin = _Text()
    expected_output = _Text()
    cpu_time_limit = _decimal()
    cpu_extra_time = _decimal()
    wall_time_limit = _decimal()
    memory_limit = _integer()
    stack_limit = _integer()
    max_processes_and_or_threads = _integer()
    enable_per_process_and_thread_time_limit = _boolean()
    enable_per_process_and_thread_memory_limit = _boolean()
    max_file_size = _integer()
    redirect_stderr_to_stdout = _boolean()
    callback_url = _string()
    additional_files = _Cast(lambda value: _cast_text(value, decode=True))  # always base64
    enable_network = _boolean()

    def __init__(self, base64: bool):
        super().__init__()
        self.base64 = base64


_SCHEMAS = {flag: CreateRequest(flag) for flag in (False, True)}  # loading keeps no state


def cast_request(body: Mapping[str, Any], base64: bool) -> dict[str, Any]:
    """Every permitted attribute of `body`, cast; None where absent or cast to nil."""
    cast = _SCHEMAS[base64].load({name: body[name] for name in PERMITTED if name in body})
    return {name: cast.get(name) for name in PERMITTED}


def cast_value(name: str, value: Any) -> Any:
    """`value` cast as attribute `name` is (a configured default goes through this)."""
    field = _SCHEMAS[False].fields[name]
    assert isinstance(field, _Cast)
    return field.cast(value)
