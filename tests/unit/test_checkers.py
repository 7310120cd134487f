"""The built-in checkers (judge/judging/checkers.py): each type right and wrong, their edge
cases, messages that say where and stay short, and outputs larger than a comparison block."""

from __future__ import annotations

import pytest

from judge.judging.checkers import BLOCK, SHOWN, Check, builtin


def check(spec: dict, output: bytes, answer: bytes) -> Check:
    checker = builtin(spec)
    assert checker is not None
    return checker(b"the input", output, answer)


def ok(spec: dict, output: bytes, answer: bytes) -> bool:
    result = check(spec, output, answer)
    assert result.verdict in ("ok", "wrong")  # built-ins never fail nor say PE
    assert (result.message is None) == (result.verdict == "ok")
    return result.verdict == "ok"


def message(spec: dict, output: bytes, answer: bytes) -> str:
    result = check(spec, output, answer)
    assert result.verdict == "wrong" and result.message is not None
    return result.message


EXACT, JUDGE0, TOKENS = {"type": "exact"}, {"type": "judge0"}, {"type": "tokens"}
FLOAT, LINES = {"type": "float"}, {"type": "lines-unordered"}


# -- the specs ---------------------------------------------------------------------------------

def test_custom_is_not_built_in_and_judge0_is_the_default():
    assert builtin({"type": "custom", "source_code": "", "language_id": 1}) is None
    assert builtin({}) is builtin(JUDGE0)


@pytest.mark.parametrize("spec", [
    {"type": "diff"}, {"type": ["exact"]}, {"type": "float", "absolute": -1},
    {"type": "float", "relative": float("nan")}, {"type": "float", "absolute": "0.1"},
    {"type": "float", "relative": True}, {"type": "float", "absolute": float("inf")},
])
def test_specs_no_checker_has_are_refused(spec):
    with pytest.raises(ValueError):
        builtin(spec)


# -- right or wrong ----------------------------------------------------------------------------

@pytest.mark.parametrize("spec, output, answer, right", [
    (EXACT, b"1 2\n3\n", b"1 2\n3\n", True),
    (EXACT, b"", b"", True),
    (EXACT, b"1 2\n3", b"1 2\n3\n", False),  # the very bytes
    (EXACT, b"1 2\r\n3\n", b"1 2\n3\n", False),
    (JUDGE0, b"1 2  \n3\r\n\n\n", b"1 2\n3", True),  # trailing whitespace, as Judge0
    (JUDGE0, b"same", b"same", True),
    (JUDGE0, b" 1 2\n3", b"1 2\n3", False),  # leading whitespace counts
    (TOKENS, b"  1\t2\n\n3  \r\n", b"1 2 3", True),  # whitespace between and around
    (TOKENS, b"", b" \n ", True),
    (TOKENS, b"1 2 3", b"1 2 3 4", False),
    (TOKENS, b"12 3", b"1 2 3", False),
    (LINES, b"b\na\nc\n", b"a\nb\nc", True),  # any order
    (LINES, b"b  \na\t\n\n\n", b"a\nb", True),  # trailing whitespace and empty lines
    (LINES, b"\nb\na", b"a\n\nb", True),  # an empty line inside is a line
    (LINES, b"a\nb", b"a\n\nb", False),
    (LINES, b" a\nb", b"a\nb", False),  # leading whitespace counts
])
def test_right_or_wrong(spec, output, answer, right):
    assert ok(spec, output, answer) is right


# -- exact -------------------------------------------------------------------------------------

def test_exact_says_where_the_output_parts_from_the_answer():
    assert message(EXACT, b"1 2\n3 4\n", b"1 2\n3 5\n") == \
        "line 2, column 3: expected '5\\n', got '4\\n'"
    assert message(EXACT, b"1 2\n", b"1 2\n3\n") == \
        "line 2, column 1: the output ends, expected '3\\n'"
    assert message(EXACT, b"1 2\n3 ", b"1 2\n3") == "line 2, column 2: expected the end, got ' '"


def test_messages_quote_a_bounded_excerpt():
    long_line = b"x" * 100_000
    text = message(EXACT, long_line + b"a", long_line + b"b" * 10_000)
    assert text.startswith("line 1, column 100001: expected 'bbbb") and len(text) < 150
    assert "..." in text
    text = message(TOKENS, b"\xff" * 10_000, b"y" * 10_000)
    assert len(text) < 300 and "\\xff" in text


def test_the_first_difference_is_found_past_many_equal_blocks():
    answer = b"0123456789\n" * 100_000
    output = answer[:654_321] + b"!" + answer[654_322:]
    line, column = 654_321 // 11 + 1, 654_321 % 11 + 1
    assert message(EXACT, output, answer).startswith(f"line {line}, column {column}: ")


# -- judge0 ------------------------------------------------------------------------------------

def test_judge0_says_where_the_normalized_outputs_part():
    assert message(JUDGE0, b"1\n2\n", b"1\n3\n") == "line 2, column 1: expected '3', got '2'"


def test_judge0_never_accepts_an_empty_output():
    assert message(JUDGE0, b"", b"") == "the output is empty"
    assert message(JUDGE0, b"", b"1") == "the output is empty"


# -- tokens ------------------------------------------------------------------------------------

def test_tokens_say_which_token_or_how_many():
    assert message(TOKENS, b"1 2 3 4 6", b"1 2 3 4 5") == "token 5: expected 5, got 6"
    assert message(TOKENS, b"1 2", b"1 2 3") == "expected 3 tokens, got 2"
    assert message(TOKENS, b"1 2 3 4", b"1 2 3") == "expected 3 tokens, got 4"
    assert message(TOKENS, b"", b"1") == "expected 1 tokens, got 0"


def test_tokens_across_blocks_laid_out_differently():
    """More than a block of tokens, spaced differently on each side: blocks end at other
    tokens in the output than in the answer."""
    count = BLOCK // 2
    numbers = [b"%d" % (n % 1000) for n in range(count)]
    answer = b"   ".join(numbers)
    assert ok(TOKENS, b"\n".join(numbers), answer)
    wrong = numbers.copy()
    wrong[count - 10] = b"x"
    assert message(TOKENS, b"\n".join(wrong), answer) == \
        f"token {count - 9}: expected {numbers[count - 10].decode()}, got x"
    assert message(TOKENS, b"\n".join(numbers + [b"7"]), answer) == \
        f"expected {count} tokens, got {count + 1}"


# -- float -------------------------------------------------------------------------------------

def test_float_within_the_absolute_or_the_relative_epsilon():
    assert ok(FLOAT, b"1.0000001 2", b"1 2.0")  # the default: 1e-6 either way
    assert ok(FLOAT, b"1000000.5", b"1000000")  # relative: 0.5 <= 1e-6 * 1e6
    assert not ok(FLOAT, b"1.00001", b"1")
    absolute = {"type": "float", "absolute": 0.01, "relative": 0}
    assert ok(absolute, b"3.14", b"3.14159") and not ok(absolute, b"3.1", b"3.14159")
    assert ok(absolute, b"1e-3", b"0") and ok(absolute, b"-0", b"0.0")


def test_float_is_relative_to_the_answer():
    relative = {"type": "float", "absolute": 0, "relative": 0.5}
    assert ok(relative, b"1", b"2")  # |1 - 2| <= 0.5 * 2
    assert not ok(relative, b"2", b"1")  # |2 - 1| > 0.5 * 1


def test_float_compares_words_as_text():
    assert ok(FLOAT, b"Case #1: 0.5000001", b"Case #1: 0.5")
    assert message(FLOAT, b"Case #2: 0.5", b"Case #1: 0.5") == "token 2: expected #1:, got #2:"
    assert message(FLOAT, b"yes", b"1") == "token 1: expected 1, got yes"


def test_float_nan_and_infinities():
    assert ok(FLOAT, b"nan inf -inf 1e400", b"NaN Infinity -inf inf")
    assert message(FLOAT, b"nan", b"1") == "token 1: expected 1, got nan"
    assert message(FLOAT, b"1", b"nan") == "token 1: expected nan, got 1"
    assert not ok(FLOAT, b"inf", b"-inf")
    assert not ok(FLOAT, b"1e308", b"inf")
    assert not ok({"type": "float", "relative": 1}, b"5", b"inf")
    assert not ok(FLOAT, b"1e308", b"-1e308")


def test_float_reads_numbers_as_an_output_writes_them():
    assert not ok(FLOAT, b"1_0", b"10")  # Python's float() would say 10
    assert not ok(FLOAT, b"0x10", b"16")
    assert ok(FLOAT, b"+1.5e0 .5 5.", b"1.5 0.5 5")


def test_float_counts_tokens():
    assert message(FLOAT, b"1 2", b"1 2 3") == "expected 3 tokens, got 2"
    assert message(FLOAT, b"1.5", b"1.0") == "token 1: expected 1.0, got 1.5"


def test_float_across_blocks_of_differing_texts():
    count = BLOCK // 4
    answer = b" ".join(b"%d.25" % n for n in range(count))
    output = b"\n".join(b"%d.2500000001" % n for n in range(count))
    assert ok(FLOAT, output, answer)
    assert message(FLOAT, output + b" 1", answer) == f"expected {count} tokens, got {count + 1}"
    last = f"{count - 1}.25"
    assert message(FLOAT, output.replace(b"%d.2500000001" % (count - 1), b"0"), answer) == \
        f"token {count}: expected {last}, got 0"


# -- lines-unordered ---------------------------------------------------------------------------

def test_lines_are_a_multiset():
    assert message(LINES, b"b\nb\n", b"a\nb") == "line 'a' expected 1 times, got 0"
    assert message(LINES, b"a\nb\nb", b"a\nb") == "expected 2 lines, got 3"
    assert message(LINES, b"x" * 1000 + b"\n", b"y" * 1000) == \
        f"line '{'y' * SHOWN}'... expected 1 times, got 0"


def test_large_outputs_in_another_order():
    lines = [b"%d %d" % (n, n * n) for n in range(300_000)]
    answer = b"\n".join(lines)
    assert ok(LINES, b"\n".join(reversed(lines)) + b"\n", answer)
    assert message(LINES, b"\n".join(reversed(lines[1:] + [b"0 1"])), answer) == \
        "line '0 0' expected 1 times, got 0"
