"""Judge0's wire formats: Ruby's base64, decimals, timestamps, to_i/to_f, shell sanitising."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from judge.contract.wire import (
    decimal_str,
    decode64,
    encode64,
    ruby_float_str,
    ruby_to_d,
    ruby_to_f,
    ruby_to_i,
    sanitize_shell_arg,
    timestamp,
)


class TestDecode64:
    @pytest.mark.parametrize(("encoded", "decoded"), [
        ("aGVsbG8sIEp1ZGdlMAo=\n", b"hello, Judge0\n"),
        ("YQ==", b"a"),
        ("YQ", b"a"),            # a trailing quantum of two characters still yields a byte
        ("YWI", b"ab"),          # ... and of three characters, two bytes
        ("YWJj", b"abc"),
        ("Y", b""),              # a single dangling character is dropped
        ("YWJjZ", b"abc"),
        ("", b""),
    ])
    def test_decodes_like_ruby(self, encoded: str, decoded: bytes) -> None:
        assert decode64(encoded) == decoded

    def test_skips_characters_outside_the_alphabet(self) -> None:
        assert decode64("aGVs\nbG8s IEp1-ZGdl_MAo=") == b"hello, Judge0\n"
        assert decode64("YW\u00e9Jj") == b"abc"

    def test_stops_at_padding_in_the_third_or_fourth_position(self) -> None:
        assert decode64("YQ==YWJj") == b"a"
        assert decode64("YWI=YWJj") == b"ab"

    def test_padding_where_a_quantum_starts_is_skipped(self) -> None:
        assert decode64("=YWJj") == b"abc"
        assert decode64("Y=WJj") == b"abc"

    def test_plain_text_decodes_to_garbage_without_raising(self) -> None:
        assert decode64("print(1)") == base64.b64decode("print1==")

    def test_round_trips_random_bytes(self) -> None:
        for size in (0, 1, 2, 44, 45, 46, 90, 1000):
            data = os.urandom(size)
            assert decode64(encode64(data)) == data


class TestEncode64:
    def test_matches_ruby_base64_encode64(self) -> None:
        assert encode64(b"hello, Judge0\n") == "aGVsbG8sIEp1ZGdlMAo=\n"

    def test_empty_bytes_encode_to_empty_string_without_newline(self) -> None:
        assert encode64(b"") == ""

    def test_breaks_lines_at_60_columns_and_ends_with_newline(self) -> None:
        encoded = encode64(bytes(range(256)) * 2)
        lines = encoded.split("\n")
        assert encoded.endswith("\n") and lines[-1] == ""
        assert all(len(line) == 60 for line in lines[:-2])
        assert 0 < len(lines[-2]) <= 60
        assert base64.b64decode("".join(lines)) == bytes(range(256)) * 2

    def test_exactly_45_bytes_is_one_full_line(self) -> None:
        assert encode64(b"x" * 45) == base64.b64encode(b"x" * 45).decode() + "\n"
        assert encode64(b"x" * 46).count("\n") == 2


class TestDecimalStr:
    @pytest.mark.parametrize(("value", "text"), [
        (Decimal("5"), "5.0"),
        (Decimal("5.000"), "5.0"),
        (Decimal("0.002"), "0.002"),
        (Decimal("0.010"), "0.01"),
        (Decimal("2.5"), "2.5"),
        (Decimal("1E+1"), "10.0"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("0"), "0.0"),
        (Decimal("0.002333333333333333"), "0.002333333333333333"),
        (5.0, "5.0"),
        (0.002, "0.002"),
        (0.01, "0.01"),
        (1e-7, "0.0000001"),
        (1e20, "100000000000000000000.0"),
        (2, "2.0"),
    ])
    def test_shortest_plain_decimal_with_a_fractional_digit(self, value, text: str) -> None:
        assert decimal_str(value) == text

    def test_float_mean_of_three_runs_keeps_16_significant_digits_as_ruby(self) -> None:
        assert decimal_str((0.002 + 0.002 + 0.003) / 3) == "0.002333333333333333"

    def test_float_noise_beyond_16_digits_is_dropped(self) -> None:
        assert decimal_str(0.1 + 0.2) == "0.3"

    def test_refuses_non_finite_numbers(self) -> None:
        with pytest.raises(ValueError):
            decimal_str(float("nan"))


class TestTimestamp:
    def test_utc_with_milliseconds_and_z(self) -> None:
        moment = datetime(2024, 4, 3, 5, 40, 51, 306999, tzinfo=UTC)
        assert timestamp(moment) == "2024-04-03T05:40:51.306Z"

    def test_converts_other_time_zones_to_utc(self) -> None:
        moment = datetime(2024, 4, 3, 7, 40, 51, 306000, tzinfo=timezone(timedelta(hours=2)))
        assert timestamp(moment) == "2024-04-03T05:40:51.306Z"

    def test_whole_seconds_still_have_three_digits(self) -> None:
        assert timestamp(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000Z"

    def test_naive_datetimes_are_taken_as_utc(self) -> None:
        assert timestamp(datetime(2024, 4, 3, 5, 40, 51, 306000)) == "2024-04-03T05:40:51.306Z"


class TestRubyNumbers:
    @pytest.mark.parametrize(("value", "number"), [
        ("5abc", 5), ("abc", 0), ("", 0), ("  -7", -7), ("+3", 3), ("1_000", 1000),
        ("1__0", 1), ("_1", 0), ("0x1A", 0), ("12.9", 12), (2.9, 2), (-2.9, -2), (None, 0),
        (Decimal("3.7"), 3), (42, 42),
    ])
    def test_to_i(self, value, number: int) -> None:
        assert ruby_to_i(value) == number

    def test_to_i_refuses_infinity(self) -> None:
        with pytest.raises(ValueError):
            ruby_to_i(float("inf"))

    @pytest.mark.parametrize(("value", "number"), [
        ("2.5s", 2.5), ("1e3", 1000.0), ("abc", 0.0), (".5", 0.5), ("5.", 5.0), ("1_000.5", 1000.5),
        (" -1.5e-1x", -0.15), ("", 0.0), ("1e", 1.0), (3, 3.0), (1.25, 1.25),
    ])
    def test_to_f(self, value, number: float) -> None:
        assert ruby_to_f(value) == number

    def test_to_d_keeps_the_exact_decimal(self) -> None:
        assert ruby_to_d("0.1abc") == Decimal("0.1")
        assert ruby_to_d("garbage") == Decimal(0)

    @pytest.mark.parametrize(("value", "text"), [
        (15.0, "15.0"), (5.0, "5.0"), (0.5, "0.5"), (1e16, "1.0e+16"), (1e-5, "1.0e-05"),
        (1.5e20, "1.5e+20"), (100.0, "100.0"),
    ])
    def test_float_to_s(self, value: float, text: str) -> None:
        assert ruby_float_str(value) == text


class TestSanitizeShellArg:
    def test_trims_and_deletes_shell_metacharacters(self) -> None:
        assert sanitize_shell_arg("  -O2 $(rm -rf /) && `id` ; a|b <c >d  ") == "-O2 (rm -rf /)  id  ab c d"

    def test_keeps_quotes_stars_parentheses_and_newlines(self) -> None:
        assert sanitize_shell_arg("-D'X=\"1\"' *.c\n(x)") == "-D'X=\"1\"' *.c\n(x)"

    def test_replaces_invalid_utf8(self) -> None:
        assert sanitize_shell_arg(b"-O2 \xff") == "-O2 \ufffd"
        lone_surrogate = sanitize_shell_arg("a\udcff")  # e.g. from a JSON "\udcff" escape
        assert lone_surrogate[0] == "a" and set(lone_surrogate[1:]) == {"\ufffd"}

    def test_none_and_blank_give_an_empty_substitution(self) -> None:
        assert sanitize_shell_arg(None) == ""
        assert sanitize_shell_arg(" \t\n") == ""
