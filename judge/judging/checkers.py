"""The built-in checkers of a problem's test cases: does a program's output answer the case?

`builtin(spec)` gives the checker of a problem's `checker` spec (see the problems design):
exact bytes, Judge0's comparison, whitespace-separated tokens, tokens as numbers within an
absolute or relative epsilon, or the multiset of lines. A custom checker (testlib's
convention) runs in a sandbox of its own: that is the worker's, and builtin() returns None.

They are pure Python and linear in the output, and fast for large ones: equal outputs are
told by one comparison in C, tokens are compared a block (about 1 MiB) at a time with the
loops in C (only the tokens whose text differs are looked at one by one, to read them as
numbers), so a 10 MB output takes a fraction of a second and its millions of tokens never
exist as Python objects all at once. Messages say where the first difference is and quote
at most a few dozen characters of anything, like testlib's ("expected 3 tokens, got 2",
"token 5: expected 1.0, got 1.5").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import compress, count
from operator import ne
from typing import Any

from .verdict import normalize_output, outputs_match

OK, WRONG, PRESENTATION, FAIL = "ok", "wrong", "presentation", "fail"
DEFAULT_EPSILON = 1e-6  # testlib's rcmp6: absolute or relative error up to 1e-6
SHOWN = 32  # bytes of a token or line a message quotes
BLOCK = 1 << 20  # bytes of output whose tokens are compared at a time
_SPACE = re.compile(rb"\s")  # the whitespace bytes.split() splits on
_BLANK_BEFORE_NEWLINE = re.compile(rb"[ \t\r\x0b\x0c]\n")


@dataclass(frozen=True)
class Check:
    verdict: str  # "ok" | "wrong" | "presentation" | "fail"
    message: str | None  # the checker's words (bounded), or ours


Checker = Callable[[bytes, bytes, bytes], Check]  # (input, output, answer) -> Check
ACCEPTED = Check(OK, None)


def builtin(spec: Mapping[str, Any]) -> Checker | None:
    """The built-in checker of `spec` (input, output, answer) -> Check; None for "custom".
    A spec without a type is Judge0's comparison; one no checker has raises ValueError (the
    API validates specs before they are stored)."""
    kind = spec.get("type", "judge0")
    if kind == "custom":
        return None
    if kind == "float":
        absolute, relative = _epsilon(spec, "absolute"), _epsilon(spec, "relative")
        return lambda _input, output, answer: _compare_tokens(
            output, answer,
            _first_far(absolute, relative, b"_" not in output and b"_" not in answer))
    try:
        return _BUILTIN[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown checker type {kind!r}") from None


def _epsilon(spec: Mapping[str, Any], key: str) -> float:
    value = spec.get(key, DEFAULT_EPSILON)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value >= 0):
        raise ValueError(f"the float checker's {key} must be a number >= 0, not {value!r}")
    return float(value)


# -- bytes and lines --------------------------------------------------------------------------

def exact(_input: bytes, output: bytes, answer: bytes) -> Check:
    """The very bytes of the answer."""
    return ACCEPTED if output == answer else Check(WRONG, _where(output, answer))


def judge0(_input: bytes, output: bytes, answer: bytes) -> Check:
    """Judge0's rule (verdict.outputs_match): trailing whitespace of each line and of the
    whole ignored; an empty output is never right."""
    if (output and output == answer) or outputs_match(answer, output):
        return ACCEPTED
    if not output:
        return Check(WRONG, "the output is empty")
    return Check(WRONG, _where(normalize_output(output), normalize_output(answer)))


def lines_unordered(_input: bytes, output: bytes, answer: bytes) -> Check:
    """The same lines in any order: equal multisets of lines, each without its trailing
    whitespace, trailing empty lines dropped."""
    if output == answer:
        return ACCEPTED
    got, want = _lines(output), _lines(answer)
    if got == want:
        return ACCEPTED
    if len(got) != len(want):
        return Check(WRONG, f"expected {len(want)} lines, got {len(got)}")
    found, expected = Counter(got), Counter(want)
    if found == expected:
        return ACCEPTED
    line, times = next((line, times) for line, times in expected.items()
                       if found[line] < times)  # as many lines in all: one is short
    return Check(WRONG, f"line {_show(line)} expected {times} times, got {found[line]}")


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if _BLANK_BEFORE_NEWLINE.search(data):  # only then is a line-by-line pass needed
        lines = [line.rstrip() for line in lines]
    else:
        lines[-1] = lines[-1].rstrip()
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _where(got: bytes, want: bytes) -> str:
    """Where two different outputs part: line, column and what each holds from there."""
    at = _first_difference(got, want)
    line, column = got.count(b"\n", 0, at) + 1, at - got.rfind(b"\n", 0, at)
    place = f"line {line}, column {column}"
    if at == len(got):
        return f"{place}: the output ends, expected {_show(_rest(want, at))}"
    if at == len(want):
        return f"{place}: expected the end, got {_show(_rest(got, at))}"
    return f"{place}: expected {_show(_rest(want, at))}, got {_show(_rest(got, at))}"


def _first_difference(a: bytes, b: bytes) -> int:
    """The first index where a and b differ (the shorter's length when it is a prefix of
    the other): blocks compared in C, then the bytes of the first unequal block."""
    n, at, step = min(len(a), len(b)), 0, 4096
    while at < n and a[at:at + step] == b[at:at + step]:
        at += step
    end = min(at + step, n)
    while at < end and a[at] == b[at]:
        at += 1
    return min(at, n)


def _rest(data: bytes, at: int) -> bytes:
    """From `at` to the end of its line (the newline included), at most SHOWN + 1 bytes."""
    newline = data.find(b"\n", at, at + SHOWN + 1)
    return data[at:newline + 1] if newline >= 0 else data[at:at + SHOWN + 1]


def _show(data: bytes, quoted: bool = True) -> str:
    """`data` for a message: at most SHOWN bytes, escaped, "..." when cut."""
    text = repr(data[:SHOWN].decode("utf-8", "backslashreplace"))
    return (text if quoted else text[1:-1]) + ("..." if len(data) > SHOWN else "")


# -- tokens -----------------------------------------------------------------------------------

def tokens(_input: bytes, output: bytes, answer: bytes) -> Check:
    """The same whitespace-separated tokens: any whitespace between them, and around."""
    return _compare_tokens(output, answer, _first_unequal)


def _first_unequal(got: list[bytes], want: list[bytes]) -> int | None:
    return next(compress(count(), map(ne, got, want)), None)


FirstUnlike = Callable[[list[bytes], list[bytes]], "int | None"]


def _first_far(absolute: float, relative: float, plain: bool) -> FirstUnlike:
    """Tokens equal as text, or numbers b (the answer's) and a with |a-b| <= absolute or
    |a-b| <= relative * |b|. NaN is only NaN's equal, an infinity only itself's. `plain`:
    no "_" in the outputs, which float() would read as Python source does ("1_0" is 10)."""
    def close(a: float, b: float) -> bool:  # False for NaN and infinities: see below
        return (diff := abs(a - b)) <= absolute or diff <= relative * abs(b) < math.inf

    def first_far(got: list[bytes], want: list[bytes]) -> int | None:
        if plain:  # all numbers, all close: told with the loops in C
            try:
                if all(map(close, map(float, got), map(float, want))):
                    return None
            except ValueError:  # words among them
                pass
        for k in compress(count(), map(ne, got, want)):  # the texts differ: as numbers?
            text, expected = got[k], want[k]
            if b"_" in text or b"_" in expected:  # float() reads "1_0" as Python would
                return k
            try:
                a, b = float(text), float(expected)
            except ValueError:  # a word
                return k
            if not (close(a, b) or a == b or (a != a and b != b)):  # the same infinity, NaNs
                return k
        return None

    return first_far


def _compare_tokens(output: bytes, answer: bytes, first_unlike: FirstUnlike) -> Check:
    """Token by token, a block at a time; the counts must match too."""
    if output.strip() == answer.strip():  # the usual right answer: the same tokens as text
        return ACCEPTED
    outputs, answers = _token_blocks(output), _token_blocks(answer)
    got: list[bytes] = []
    want: list[bytes] = []
    index = 0  # tokens compared so far
    while True:
        got = got or next(outputs, [])
        want = want or next(answers, [])
        n = min(len(got), len(want))
        if not n:
            break
        k = None if got == want else first_unlike(got, want)  # map stops at the first n
        if k is not None:
            return Check(WRONG, f"token {index + k + 1}: expected {_show(want[k], False)}, "
                                f"got {_show(got[k], False)}")
        index += n
        got, want = got[n:], want[n:]
    found = index + len(got) + sum(map(len, outputs))
    expected = index + len(want) + sum(map(len, answers))
    if found != expected:
        return Check(WRONG, f"expected {expected} tokens, got {found}")
    return ACCEPTED


def _token_blocks(data: bytes) -> Iterator[list[bytes]]:
    """The tokens of `data`, a non-empty list for every block of about BLOCK bytes (a block
    ends at whitespace: no token is cut)."""
    start = 0
    while start < len(data):
        end = start + BLOCK
        if end < len(data):
            space = _SPACE.search(data, end)
            end = space.start() if space else len(data)
        if block := data[start:end].split():
            yield block
        start = end


_BUILTIN: dict[str, Checker] = {"exact": exact, "judge0": judge0, "tokens": tokens,
                                "lines-unordered": lines_unordered}
