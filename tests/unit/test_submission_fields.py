"""The submission attribute table, the `fields` parameter and the base64 flag (§4.1, §5.1, §5.2)."""

from __future__ import annotations

import pytest

from judge.config import Config
from judge.contract.submission.fields import (
    ATTRIBUTES,
    DEFAULT_FIELDS,
    PERMITTED,
    PROBLEM_ATTRIBUTES,
    effective_base64,
    parse_fields,
    select_fields,
)


def test_there_are_40_attributes_ending_with_the_two_virtual_ones() -> None:
    assert len(ATTRIBUTES) == len(set(ATTRIBUTES)) == 40
    assert ATTRIBUTES[:4] == ("source_code", "language_id", "stdin", "expected_output")
    assert ATTRIBUTES[-2:] == ("status", "language")


def test_exactly_20_keys_are_client_settable() -> None:
    assert len(set(PERMITTED)) == 20 and set(PERMITTED) <= set(ATTRIBUTES)
    assert not {"status_id", "token", "stdout", "status"} & set(PERMITTED)


class TestParseFields:
    def test_absent_or_empty_fields_give_the_default_set_in_output_order(self) -> None:
        expected = ["stdout", "time", "memory", "stderr", "token", "compile_output", "message", "status"]
        assert parse_fields(None) == expected
        assert parse_fields("") == expected
        assert set(DEFAULT_FIELDS) == set(expected)

    def test_unknown_field_is_reported(self) -> None:
        assert parse_fields("foo") == "invalid fields: [foo]"

    def test_fields_are_not_trimmed(self) -> None:
        assert parse_fields("stdout, time,foo") == "invalid fields: [ time, foo]"

    def test_invalid_names_are_reported_even_with_a_star(self) -> None:
        assert parse_fields("*,bar") == "invalid fields: [bar]"

    def test_star_selects_all_40_attributes_in_order_then_the_problem_ones(self) -> None:
        assert parse_fields("*") == list(ATTRIBUTES + PROBLEM_ATTRIBUTES)
        assert parse_fields("stdout,*") == list(ATTRIBUTES + PROBLEM_ATTRIBUTES)

    def test_star_marks_the_problem_attributes_as_shown_only_for_problem_submissions(self):
        selected = select_fields("*", master_star=True)
        assert selected.star and list(selected) == list(ATTRIBUTES + PROBLEM_ATTRIBUTES)
        assert not select_fields("*,score", master_star=True).star  # named: always shown
        released = select_fields("*", master_star=False)
        assert "started_at" not in released and "score" in released

    def test_requested_fields_come_back_in_attribute_order_without_duplicates(self) -> None:
        assert parse_fields("status,token,stdout,token") == ["stdout", "token", "status"]

    def test_trailing_empty_items_are_dropped_like_ruby_split(self) -> None:
        assert parse_fields("token,") == ["token"]
        assert parse_fields(",") == parse_fields(None)
        assert parse_fields("token,,stdout") == "invalid fields: []"


class TestEffectiveBase64:
    @pytest.mark.parametrize(("value", "flag"), [
        (None, False), ("true", True), ("false", False), ("True", False), ("1", False), (True, False),
    ])
    def test_released_behaviour_only_the_string_true_enables_base64(self, config: Config, value, flag: bool) -> None:
        assert config.disable_implicit_base64_encoding
        assert effective_base64(value, config) is flag

    @pytest.mark.parametrize(("value", "flag"), [
        (None, True), ("true", True), ("false", False), ("False", True), ("", True), (True, True),
    ])
    def test_master_behaviour_anything_but_the_string_false_enables_base64(self, value, flag: bool) -> None:
        config = Config.load(environ={"DISABLE_IMPLICIT_BASE64_ENCODING": "false"})
        assert effective_base64(value, config) is flag
