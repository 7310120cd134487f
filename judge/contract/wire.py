"""Judge0's wire formats, reproduced from the Ruby behaviour clients already depend on.

Judge0 is a Rails app; its JSON carries the fingerprints of Ruby's standard library:
``Base64.decode64`` never fails, ``Base64.encode64`` breaks lines at 60 columns, BigDecimal
renders as a plain decimal string, timestamps have exactly three fractional digits, and
integer/float parameters are read with the forgiving ``String#to_i`` / ``String#to_f``.
Python's stdlib differs on every one of these points, so each is implemented here once.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation

__all__ = [
    "decode64",
    "encode64",
    "decimal_str",
    "to_decimal",
    "ruby_float_str",
    "timestamp",
    "ruby_to_i",
    "ruby_to_f",
    "ruby_to_d",
    "sanitize_shell_arg",
]

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {char: index for index, char in enumerate(_B64_ALPHABET)}

# RFC 2045 as Ruby's pack("m") does it: 45 input bytes -> one 60-character line.
_B64_LINE_BYTES = 45

# Ruby 2.7's BigDecimal keeps DBL_DIG + 1 significant digits when it converts a Float.
_FLOAT_DECIMAL_DIGITS = 16

_SHELL_METACHARACTERS = str.maketrans("", "", "$&;<>|`")
_RUBY_STRIP = " \t\n\v\f\r\0"

# String#to_i / #to_f / #to_d: leading whitespace, a sign, digit runs joined by single
# underscores; anything after the longest valid prefix is ignored.
_DIGITS = r"\d+(?:_\d+)*"
_RUBY_INT = re.compile(rf"[ \t\n\v\f\r]*([+-]?{_DIGITS})")
_RUBY_FLOAT = re.compile(
    rf"[ \t\n\v\f\r]*(?P<mantissa>[+-]?(?:{_DIGITS}(?:\.{_DIGITS})?|\.{_DIGITS}))"
    rf"(?P<exponent>[eE][+-]?{_DIGITS})?"
)


def decode64(value: str) -> bytes:
    """Decode base64 exactly like Ruby's lenient ``Base64.decode64`` (``unpack1("m")``).

    Characters outside ``[A-Za-z0-9+/]`` are skipped; ``=`` ends the input only where the
    third or fourth character of a quantum is expected; a trailing quantum of two or three
    characters still yields one or two bytes and a lone trailing character is dropped.
    Never raises, because Judge0 clients rely on "garbage in, garbage out" (§5.2).
    """
    out = bytearray()
    quantum: list[int] = []
    for char in value:
        digit = _B64_VALUE.get(char)
        if digit is None:
            if char == "=" and len(quantum) >= 2:
                break
            continue
        quantum.append(digit)
        if len(quantum) == 4:
            a, b, c, d = quantum
            out += bytes(((a << 2 | b >> 4) & 0xFF, (b << 4 | c >> 2) & 0xFF, (c << 6 | d) & 0xFF))
            quantum.clear()
    if len(quantum) >= 2:
        out.append((quantum[0] << 2 | quantum[1] >> 4) & 0xFF)
    if len(quantum) == 3:
        out.append((quantum[1] << 4 | quantum[2] >> 2) & 0xFF)
    return bytes(out)


def encode64(data: bytes) -> str:
    """Encode like Ruby's ``Base64.encode64``: 60-character lines, each ending in ``\\n``.

    ``b""`` gives ``""`` (no newline). Python's ``base64.encodebytes`` uses 76 columns,
    which would change every stored and returned value.
    """
    return "".join(
        base64.b64encode(data[start : start + _B64_LINE_BYTES]).decode("ascii") + "\n"
        for start in range(0, len(data), _B64_LINE_BYTES)
    )


def to_decimal(value: Decimal | float | int | str) -> Decimal:
    """Convert a number to Decimal the way Rails stores it in a ``decimal`` column.

    Floats keep their shortest representation cut to 16 significant digits (Ruby 2.7's
    Float-to-BigDecimal conversion), so a three-run mean such as ``0.007 / 3`` becomes
    ``0.002333333333333333`` as in Judge0, while ``0.1 + 0.2`` becomes ``0.3``.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {value!r}")
        exact = Decimal(repr(value))
        digits = len(exact.as_tuple().digits)
        if digits > _FLOAT_DECIMAL_DIGITS:
            quantum = Decimal(1).scaleb(exact.adjusted() - _FLOAT_DECIMAL_DIGITS + 1)
            exact = exact.quantize(quantum, rounding=ROUND_DOWN)
        return exact
    try:
        return Decimal(value)
    except InvalidOperation as error:
        raise ValueError(f"not a number: {value!r}") from error


def decimal_str(value: Decimal | float | int | str) -> str:
    """Render a decimal column as Judge0 does: plain notation, shortest form, one fractional
    digit at least (``"5.0"``, ``"0.002"``, ``"0.01"``, ``"2.5"``); never exponent notation."""
    number = to_decimal(value)
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0")
        return text + "0" if text.endswith(".") else text
    return text + ".0"


def ruby_float_str(value: float) -> str:
    """Ruby's ``Float#to_s`` (``15.0``, ``0.5``, ``1.0e+16``, ``1.0e-05``), used where Judge0
    prints a float setting inside a message, e.g. ``must be less than or equal to 15.0``."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    if "e" not in text:
        return text if "." in text else text + ".0"
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').zfill(2)}"


def timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z``: ``2024-04-03T05:40:51.306Z``.

    Rails truncates (never rounds) the fraction. A naive datetime is taken to be UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ruby_to_i(value: object) -> int:
    """Ruby ``to_i``: ``"5abc"`` → 5, ``"abc"`` → 0, ``" -7"`` → -7, ``"1_000"`` → 1000,
    ``2.9`` → 2, ``None`` → 0. Raises ValueError for NaN/infinity (Ruby raises too)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise TypeError("Ruby booleans have no to_i")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        if not Decimal(value).is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return int(value)
    match = _RUBY_INT.match(str(value))
    return int(match.group(1).replace("_", "")) if match else 0


def ruby_to_d(value: object) -> Decimal:
    """Ruby ``String#to_d``: the longest numeric prefix as an exact Decimal, else 0."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool):
        raise TypeError("Ruby booleans have no to_d")
    if isinstance(value, int | float | Decimal):
        return to_decimal(value)
    match = _RUBY_FLOAT.match(str(value))
    if not match:
        return Decimal(0)
    return Decimal(match.group(0).strip(_RUBY_STRIP).replace("_", ""))


def ruby_to_f(value: object) -> float:
    """Ruby ``to_f``: ``"2.5s"`` → 2.5, ``"1e3"`` → 1000.0, ``"abc"`` → 0.0, ``".5"`` → 0.5."""
    if isinstance(value, float):
        return value
    return float(ruby_to_d(value))


def sanitize_shell_arg(value: str | bytes | None) -> str:
    """Judge0's sanitising of ``compiler_options`` and ``command_line_arguments`` (§6.3):
    trim, force valid UTF-8 (invalid sequences become U+FFFD), then delete every one of
    ``$ & ; < > | ` ``. Everything else reaches bash, as in Judge0."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.strip(_RUBY_STRIP.encode()).decode("utf-8", errors="replace")
    else:
        value = value.strip(_RUBY_STRIP)
        value = value.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
    return value.translate(_SHELL_METACHARACTERS)
