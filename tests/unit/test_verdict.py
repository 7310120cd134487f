"""Judge0's expected_output comparison (§6.5, §15 item 31)."""

from __future__ import annotations

import pytest

from judge.judging.verdict import normalize_output, outputs_match


def test_normalisation_strips_trailing_whitespace_per_line_and_at_the_end() -> None:
    assert normalize_output(b"a \t\nb\r\n\n\n \x00\n") == b"a\nb"


def test_normalisation_keeps_leading_whitespace_and_leading_blank_lines() -> None:
    assert normalize_output(b"\n\n  a\n") == b"\n\n  a"


@pytest.mark.parametrize("stdout", [
    b"hello, world\n",
    b"hello, world",
    b"hello, world   \n\n\n",
    b"hello, world\r\n",
    b"hello, world\x00\n",
    b"hello, world\t\x0b\x0c",
])
def test_output_differing_only_in_trailing_whitespace_is_accepted(stdout: bytes) -> None:
    assert outputs_match(b"hello, world", stdout)


def test_crlf_line_endings_match_lf() -> None:
    assert outputs_match(b"1\n2\n3\n", b"1\r\n2\r\n3\r\n")


@pytest.mark.parametrize("stdout", [b" hello, world\n", b"\nhello, world\n", b"hello,  world\n"])
def test_output_differing_in_leading_or_inner_whitespace_is_a_wrong_answer(stdout: bytes) -> None:
    assert not outputs_match(b"hello, world", stdout)


def test_null_expected_output_accepts_anything() -> None:
    assert outputs_match(None, b"whatever")
    assert outputs_match(None, None)


def test_no_output_never_matches_an_expected_output_not_even_an_empty_one() -> None:
    assert not outputs_match(b"", None)
    assert not outputs_match(b"", b"")
    assert not outputs_match(b"\n", None)
