"""Creating a submission: Rails casting, base64 input, defaults and Judge0's validation
messages in Judge0's order (§1, §4.1, §4.3, §9, §15 items 2-9)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from judge.config import Config
from judge.contract.languages import LanguageCatalog
from judge.contract.submission.fields import PERMITTED
from judge.contract.submission.rules import parse_create
from judge.contract.wire import encode64

VALID = {"source_code": "print(1)", "language_id": 71}


def errors_of(body: dict[str, Any], config: Config, catalog: LanguageCatalog, *, base64: bool = False) -> str:
    """The 422 body exactly as it would be sent, so that key order is checked too."""
    attributes, errors = parse_create(body, base64, config, catalog)
    assert attributes is None
    return json.dumps(errors, separators=(",", ":"))


def accepted(body: dict[str, Any], config: Config, catalog: LanguageCatalog, *, base64: bool = False) -> dict:
    attributes, errors = parse_create(body, base64, config, catalog)
    assert errors == {}
    return attributes


class TestReferenceExamples:
    """The four verified 422 bodies of §4.3, byte for byte."""

    def test_missing_source_and_language(self, config: Config, catalog: LanguageCatalog) -> None:
        assert errors_of({}, config, catalog) == (
            '{"source_code":["can\'t be blank"],'
            '"language_id":["can\'t be blank","language with id  doesn\'t exist"]}')

    def test_every_limit_out_of_range(self, config: Config, catalog: LanguageCatalog) -> None:
        body = {**VALID, "number_of_runs": "abc", "cpu_time_limit": "abc", "cpu_extra_time": 6,
                "wall_time_limit": 0.5, "memory_limit": 600000, "stack_limit": -1,
                "max_processes_and_or_threads": 0, "max_file_size": 5000}
        assert errors_of(body, config, catalog) == (
            '{"number_of_runs":["is not a number"],"cpu_time_limit":["is not a number"],'
            '"cpu_extra_time":["must be less than or equal to 5.0"],'
            '"wall_time_limit":["must be greater than or equal to 1"],'
            '"memory_limit":["must be less than or equal to 512000"],'
            '"stack_limit":["must be greater than or equal to 0"],'
            '"max_processes_and_or_threads":["must be greater than 0"],'
            '"max_file_size":["must be less than or equal to 4096"]}')

    def test_project_with_source_and_without_files(self, config: Config, catalog: LanguageCatalog) -> None:
        assert errors_of({"source_code": "x", "language_id": 89}, config, catalog) == \
            '{"source_code":["must be blank"],"additional_files":["can\'t be blank"]}'

    def test_compiler_options_for_an_interpreted_language(self, config: Config, catalog: LanguageCatalog) -> None:
        assert errors_of({**VALID, "compiler_options": "-O2"}, config, catalog) == \
            '{"compiler_options":["setting compiler options is only allowed for compiled languages"]}'


class TestPresence:
    @pytest.mark.parametrize("source", ["", "   ", "\n\t \r\n", None])
    def test_blank_or_whitespace_only_source_is_refused(self, source, config: Config, catalog: LanguageCatalog) -> None:
        assert errors_of({**VALID, "source_code": source}, config, catalog) == \
            '{"source_code":["can\'t be blank"]}'

    def test_source_that_decodes_to_whitespace_is_blank(self, config: Config, catalog: LanguageCatalog) -> None:
        assert errors_of({**VALID, "source_code": encode64(b"  \n")}, config, catalog, base64=True) == \
            '{"source_code":["can\'t be blank"]}'

    def test_empty_language_id_is_blank(self, config: Config, catalog: LanguageCatalog) -> None:
        assert errors_of({**VALID, "language_id": ""}, config, catalog) == \
            '{"language_id":["can\'t be blank","language with id  doesn\'t exist"]}'

    def test_project_with_files_and_no_source_is_valid(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({"language_id": 89, "additional_files": encode64(b"PK\x03\x04zip")}, config, catalog)
        assert attributes["additional_files"] == b"PK\x03\x04zip"
        assert attributes["source_code"] is None

    def test_project_with_whitespace_only_files_has_blank_files(self, config: Config, catalog: LanguageCatalog) -> None:
        # "IAo=" is " \n": Ruby's blank? sees only whitespace.
        assert errors_of({"language_id": 89, "additional_files": "IAo="}, config, catalog) == \
            '{"additional_files":["can\'t be blank"]}'


class TestLanguage:
    @pytest.mark.parametrize(("language_id", "shown"), [(142, "142"), ("abc", "0"), (0, "0"), ("123456789", "123456789")])
    def test_unknown_language(self, language_id, shown: str, config: Config, catalog: LanguageCatalog) -> None:
        assert errors_of({**VALID, "language_id": language_id}, config, catalog) == \
            f'{{"language_id":["language with id {shown} doesn\'t exist"]}}'

    def test_archived_language(self, config: Config, catalog: LanguageCatalog) -> None:
        assert errors_of({**VALID, "language_id": 34}, config, catalog) == \
            '{"language_id":["language with id 34 is archived and cannot be used anymore"]}'

    def test_declared_but_not_installed_language(self, config: Config, catalog: LanguageCatalog) -> None:
        unavailable = LanguageCatalog(replace(lang, available=lang.id != 71) for lang in catalog.all())
        assert errors_of(VALID, config, unavailable) == \
            '{"language_id":["language with id 71 is not available on this server"]}'

    @pytest.mark.parametrize("language_id", ["71", "71abc", 71.9, " 71"])
    def test_language_id_is_cast_with_to_i(self, language_id, config: Config, catalog: LanguageCatalog) -> None:
        assert accepted({**VALID, "language_id": language_id}, config, catalog)["language_id"] == 71

    def test_attributes_nested_under_a_submission_key_are_not_seen(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes, errors = parse_create({"submission": VALID}, False, config, catalog)
        assert attributes is None and "language_id" in errors


class TestLimits:
    @pytest.mark.parametrize(("name", "value", "message"), [
        ("cpu_time_limit", 16, "must be less than or equal to 15.0"),
        ("cpu_time_limit", -0.1, "must be greater than or equal to 0"),
        ("cpu_extra_time", 5.5, "must be less than or equal to 5.0"),
        ("wall_time_limit", 0.5, "must be greater than or equal to 1"),
        ("wall_time_limit", 21, "must be less than or equal to 20.0"),
        ("memory_limit", 1000, "must be greater than or equal to 2048"),
        ("memory_limit", 512001, "must be less than or equal to 512000"),
        ("stack_limit", 128001, "must be less than or equal to 128000"),
        ("max_processes_and_or_threads", 121, "must be less than or equal to 120"),
        ("max_file_size", -1, "must be greater than or equal to 0"),
        ("number_of_runs", 0, "must be greater than 0"),
        ("number_of_runs", 21, "must be less than or equal to 20"),
        ("number_of_runs", "abc", "is not a number"),
        ("number_of_runs", "5abc", "is not a number"),
        ("number_of_runs", True, "is not a number"),
        ("memory_limit", "0x1000", "is not a number"),
    ])
    def test_out_of_range_values_get_judge0_messages(self, name: str, value, message: str,
                                                      config: Config, catalog: LanguageCatalog) -> None:
        assert errors_of({**VALID, name: value}, config, catalog) == json.dumps({name: [message]}, separators=(",", ":"))

    @pytest.mark.parametrize("value", ["15", "15.0", " 1.5e1 ", "1_5", 15, 15.0])
    def test_numeric_strings_and_numbers_at_the_bound_are_accepted(self, value, config: Config, catalog: LanguageCatalog) -> None:
        assert accepted({**VALID, "cpu_time_limit": value}, config, catalog)["cpu_time_limit"] == Decimal(15)

    def test_bounds_follow_the_configured_maxima(self, catalog: LanguageCatalog) -> None:
        config = Config.load(environ={"MAX_CPU_TIME_LIMIT": "2.5", "MAX_MEMORY_LIMIT": "4096"})
        assert errors_of({**VALID, "cpu_time_limit": 3, "memory_limit": 5000}, config, catalog) == (
            '{"cpu_time_limit":["must be less than or equal to 2.5"],'
            '"memory_limit":["must be less than or equal to 4096"]}')

    def test_a_default_above_its_maximum_fails_every_submission(self, catalog: LanguageCatalog) -> None:
        config = Config.load(environ={"CPU_TIME_LIMIT": "20"})
        assert errors_of(VALID, config, catalog) == '{"cpu_time_limit":["must be less than or equal to 15.0"]}'

    def test_the_validator_compares_the_raw_value_but_the_column_keeps_the_cast(self, config: Config, catalog: LanguageCatalog) -> None:
        # Rails quirk: 0.5 > 0 passes numericality, then to_i stores 0.
        assert accepted({**VALID, "number_of_runs": 0.5}, config, catalog)["number_of_runs"] == 0


class TestDefaultsAndCasting:
    def test_defaults_fill_absent_and_null_values(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({**VALID, "stdin": None, "memory_limit": None}, config, catalog)
        assert attributes == {
            "source_code": b"print(1)", "stdin": None, "expected_output": None,
            "additional_files": None, "compiler_options": None, "command_line_arguments": None,
            "callback_url": None, "language_id": 71, "number_of_runs": 1,
            "cpu_time_limit": Decimal("5.0"), "cpu_extra_time": Decimal("1.0"),
            "wall_time_limit": Decimal("10.0"), "memory_limit": 128000, "stack_limit": 64000,
            "max_processes_and_or_threads": 60, "max_file_size": 1024,
            "enable_per_process_and_thread_time_limit": False,
            "enable_per_process_and_thread_memory_limit": False,
            "redirect_stderr_to_stdout": False, "enable_network": False,
        }
        assert set(attributes) == set(PERMITTED)

    @pytest.mark.parametrize("blank", ["", "  "])
    def test_a_blank_string_for_a_number_takes_the_default(self, blank: str, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({**VALID, "memory_limit": blank, "cpu_time_limit": blank}, config, catalog)
        assert attributes["memory_limit"] == 128000 and attributes["cpu_time_limit"] == Decimal("5.0")

    def test_zero_and_false_are_kept(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({**VALID, "stack_limit": 0, "redirect_stderr_to_stdout": False}, config, catalog)
        assert attributes["stack_limit"] == 0 and attributes["redirect_stderr_to_stdout"] is False

    @pytest.mark.parametrize(("value", "cast"), [
        (True, True), ("true", True), ("yes", True), ("1", True), (1, True), (" ", True),
        (False, False), ("false", False), ("FALSE", False), ("f", False), ("F", False), ("0", False),
        (0, False), (0.0, False), ("off", False), ("OFF", False),
    ])
    def test_booleans_follow_rails_casting(self, value, cast: bool, config: Config, catalog: LanguageCatalog) -> None:
        assert accepted({**VALID, "redirect_stderr_to_stdout": value}, config, catalog)["redirect_stderr_to_stdout"] is cast

    def test_an_empty_string_boolean_takes_the_configured_default(self, catalog: LanguageCatalog) -> None:
        config = Config.load(environ={"REDIRECT_STDERR_TO_STDOUT": "true"})
        assert accepted({**VALID, "redirect_stderr_to_stdout": ""}, config, catalog)["redirect_stderr_to_stdout"] is True

    def test_decimals_keep_their_exact_value(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({**VALID, "cpu_time_limit": "2.5", "wall_time_limit": 3, "cpu_extra_time": 0.1},
                              config, catalog)
        assert attributes["cpu_time_limit"] == Decimal("2.5")
        assert attributes["wall_time_limit"] == Decimal(3)
        assert str(attributes["cpu_extra_time"]) == "0.1"

    def test_arrays_and_objects_are_dropped_as_if_absent(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({**VALID, "memory_limit": [1], "stdin": {"a": 1}}, config, catalog)
        assert attributes["memory_limit"] == 128000 and attributes["stdin"] is None
        assert errors_of({"source_code": ["x"], "language_id": 71}, config, catalog) == \
            '{"source_code":["can\'t be blank"]}'

    def test_unknown_keys_are_ignored(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({**VALID, "status_id": 3, "token": "x", "input": "y"}, config, catalog)
        assert set(attributes) == set(PERMITTED)

    def test_numbers_where_strings_are_expected_become_their_text(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({"source_code": 42, "language_id": 71, "stdin": 1.5,
                               "command_line_arguments": 7, "expected_output": True}, config, catalog)
        assert attributes["source_code"] == b"42" and attributes["stdin"] == b"1.5"
        assert attributes["command_line_arguments"] == "7" and attributes["expected_output"] == b"t"

    def test_numbers_are_decoded_as_text_in_base64_mode_instead_of_failing(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({"source_code": 1234, "language_id": 71}, config, catalog, base64=True)
        assert attributes["source_code"] == b"\xd7m\xf8"

    def test_an_empty_expected_output_is_kept_as_empty_not_null(self, config: Config, catalog: LanguageCatalog) -> None:
        assert accepted({**VALID, "expected_output": ""}, config, catalog)["expected_output"] == b""

    def test_text_is_stored_as_utf8_bytes(self, config: Config, catalog: LanguageCatalog) -> None:
        assert accepted({**VALID, "stdin": "ć あ"}, config, catalog)["stdin"] == "ć あ".encode()


class TestBase64Input:
    def test_flagged_text_is_decoded_when_the_flag_is_true(self, config: Config, catalog: LanguageCatalog) -> None:
        body = {"source_code": encode64(b"print(input())"), "language_id": 71,
                "stdin": "aGVsbG8=", "expected_output": "aGVsbG8K"}
        attributes = accepted(body, config, catalog, base64=True)
        assert attributes["source_code"] == b"print(input())"
        assert attributes["stdin"] == b"hello" and attributes["expected_output"] == b"hello\n"

    def test_options_arguments_and_callback_are_never_decoded(self, config: Config, catalog: LanguageCatalog) -> None:
        body = {**VALID, "source_code": "cHJpbnQoMSk=", "language_id": 50, "compiler_options": "LU8y",
                "command_line_arguments": "YQ==", "callback_url": "aHR0cA=="}
        attributes = accepted(body, config, catalog, base64=True)
        assert (attributes["compiler_options"], attributes["command_line_arguments"], attributes["callback_url"]) == \
            ("LU8y", "YQ==", "aHR0cA==")

    def test_plain_mode_keeps_text_as_given(self, config: Config, catalog: LanguageCatalog) -> None:
        assert accepted({**VALID, "stdin": "aGVsbG8="}, config, catalog)["stdin"] == b"aGVsbG8="

    def test_additional_files_are_always_decoded(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({**VALID, "additional_files": "UEsDBA=="}, config, catalog, base64=False)
        assert attributes["additional_files"] == b"PK\x03\x04"

    def test_invalid_base64_decodes_leniently_instead_of_failing(self, config: Config, catalog: LanguageCatalog) -> None:
        attributes = accepted({"source_code": "print(1)", "language_id": 71}, config, catalog, base64=True)
        assert attributes["source_code"] and attributes["source_code"] != b"print(1)"

    def test_the_raw_query_value_is_turned_into_the_effective_flag(self, catalog: LanguageCatalog) -> None:
        released = Config.load(environ={})
        master = Config.load(environ={"DISABLE_IMPLICIT_BASE64_ENCODING": "false"})
        body = {**VALID, "stdin": "aGk="}
        assert parse_create(body, None, released, catalog)[0]["stdin"] == b"aGk="
        assert parse_create(body, None, master, catalog)[0]["stdin"] == b"hi"
        assert parse_create(body, "true", released, catalog)[0]["stdin"] == b"hi"
        assert parse_create(body, "false", master, catalog)[0]["stdin"] == b"aGk="


class TestLengthsAndPermissions:
    @pytest.mark.parametrize("name", ["compiler_options", "command_line_arguments"])
    def test_options_longer_than_512_characters_are_too_long(self, name: str, config: Config, catalog: LanguageCatalog) -> None:
        body = {**VALID, "language_id": 50, name: "x" * 513}
        assert errors_of(body, config, catalog) == f'{{"{name}":["is too long (maximum is 512 characters)"]}}'
        assert accepted({**body, name: "é" * 512}, config, catalog)[name] == "é" * 512

    def test_compiler_options_can_be_switched_off(self, catalog: LanguageCatalog) -> None:
        config = Config.load(environ={"ENABLE_COMPILER_OPTIONS": "false"})
        assert errors_of({**VALID, "language_id": 50, "compiler_options": "-O2"}, config, catalog) == \
            '{"compiler_options":["setting compiler options is not allowed"]}'
        assert accepted({**VALID, "compiler_options": "   "}, config, catalog)

    @pytest.mark.parametrize(("allowed", "listed"), [
        ("C", "C"), ("C++ Java", "C++ and Java"), ("C C++ Java", "C, C++ and Java"),
    ])
    def test_compiler_options_allow_list_is_named_in_the_message(self, allowed: str, listed: str, catalog: LanguageCatalog) -> None:
        config = Config.load(environ={"ALLOWED_LANGUAGES_FOR_COMPILER_OPTIONS": allowed})
        body = {"source_code": "x", "language_id": 45, "compiler_options": "-O2"}  # Assembly (NASM ...)
        assert errors_of(body, config, catalog) == \
            f'{{"compiler_options":["setting compiler options is only allowed for {listed}"]}}'

    def test_allow_list_entries_match_a_name_prefix_followed_by_a_space(self, catalog: LanguageCatalog) -> None:
        config = Config.load(environ={"ALLOWED_LANGUAGES_FOR_COMPILER_OPTIONS": "C"})
        assert accepted({"source_code": "x", "language_id": 50, "compiler_options": "-O2"}, config, catalog)
        assert errors_of({"source_code": "x", "language_id": 54, "compiler_options": "-O2"}, config, catalog) == \
            '{"compiler_options":["setting compiler options is only allowed for C"]}'

    def test_compiler_options_on_the_project_language_need_a_compiled_language(self, config: Config, catalog: LanguageCatalog) -> None:
        body = {"language_id": 89, "additional_files": "UEsDBA==", "compiler_options": "-O2"}
        assert errors_of(body, config, catalog) == \
            '{"compiler_options":["setting compiler options is only allowed for compiled languages"]}'

    @pytest.mark.parametrize(("variable", "key", "value", "message"), [
        ("ENABLE_COMMAND_LINE_ARGUMENTS", "command_line_arguments", "a b", "setting command line arguments is not allowed"),
        ("ENABLE_CALLBACKS", "callback_url", "http://x", "setting callback is not allowed"),
        ("ENABLE_ADDITIONAL_FILES", "additional_files", "UEsDBA==", "setting additional files is not allowed"),
        ("ALLOW_ENABLE_NETWORK", "enable_network", True, "enabling network is not allowed"),
        ("ALLOW_ENABLE_PER_PROCESS_AND_THREAD_TIME_LIMIT", "enable_per_process_and_thread_time_limit", True,
         "this option cannot be enabled"),
        ("ALLOW_ENABLE_PER_PROCESS_AND_THREAD_MEMORY_LIMIT", "enable_per_process_and_thread_memory_limit", "1",
         "this option cannot be enabled"),
    ])
    def test_disabled_features_are_refused(self, variable: str, key: str, value, message: str, catalog: LanguageCatalog) -> None:
        config = Config.load(environ={variable: "false"})
        assert errors_of({**VALID, key: value}, config, catalog) == json.dumps({key: [message]}, separators=(",", ":"))

    def test_disabled_features_accept_blank_or_false_values(self, catalog: LanguageCatalog) -> None:
        config = Config.load(environ={name: "false" for name in (
            "ENABLE_COMMAND_LINE_ARGUMENTS", "ENABLE_CALLBACKS", "ENABLE_ADDITIONAL_FILES", "ALLOW_ENABLE_NETWORK")})
        assert accepted({**VALID, "command_line_arguments": " ", "callback_url": "",
                         "additional_files": "", "enable_network": False}, config, catalog)

    def test_a_network_default_that_is_not_allowed_fails_unless_turned_off(self, catalog: LanguageCatalog) -> None:
        config = Config.load(environ={"ENABLE_NETWORK": "true", "ALLOW_ENABLE_NETWORK": "false"})
        assert errors_of(VALID, config, catalog) == '{"enable_network":["enabling network is not allowed"]}'
        assert accepted({**VALID, "enable_network": False}, config, catalog)["enable_network"] is False


def test_errors_come_in_judge0_validator_order(catalog: LanguageCatalog) -> None:
    config = Config.load(environ={name: "false" for name in (
        "ENABLE_COMMAND_LINE_ARGUMENTS", "ENABLE_CALLBACKS", "ENABLE_ADDITIONAL_FILES", "ALLOW_ENABLE_NETWORK",
        "ALLOW_ENABLE_PER_PROCESS_AND_THREAD_TIME_LIMIT", "ALLOW_ENABLE_PER_PROCESS_AND_THREAD_MEMORY_LIMIT",
        "ENABLE_COMPILER_OPTIONS")})
    body = {"source_code": " ", "language_id": 34, "number_of_runs": 0, "cpu_time_limit": 99,
            "cpu_extra_time": 99, "wall_time_limit": 0, "memory_limit": 1, "stack_limit": -1,
            "max_processes_and_or_threads": 0, "enable_per_process_and_thread_time_limit": True,
            "enable_per_process_and_thread_memory_limit": True, "max_file_size": -1,
            "compiler_options": "x" * 513, "command_line_arguments": "y" * 513,
            "callback_url": "http://x", "additional_files": "UEsDBA==", "enable_network": True}
    _, errors = parse_create(body, False, config, catalog)
    assert list(errors) == [
        "source_code", "number_of_runs", "cpu_time_limit", "cpu_extra_time", "wall_time_limit",
        "memory_limit", "stack_limit", "max_processes_and_or_threads",
        "enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
        "max_file_size", "compiler_options", "command_line_arguments", "language_id",
        "callback_url", "additional_files", "enable_network",
    ]
    assert errors["compiler_options"] == ["is too long (maximum is 512 characters)",
                                          "setting compiler options is not allowed"]
    assert errors["command_line_arguments"] == ["is too long (maximum is 512 characters)",
                                                "setting command line arguments is not allowed"]


@pytest.mark.parametrize("value", ["-O2\x00", "\ud800"])
def test_text_that_postgres_cannot_store_is_refused_not_a_500(
        config: Config, catalog: LanguageCatalog, value: str) -> None:
    body = {"source_code": "int main(){}", "language_id": 50, "compiler_options": value}
    assert errors_of(body, config, catalog) == (
        '{"compiler_options":["must not contain NUL characters or unpaired UTF-16 surrogates"]}')


def test_the_request_schema_declares_exactly_the_permitted_attributes_in_their_order():
    from judge.contract.submission.request import CreateRequest
    assert tuple(CreateRequest(False).fields) == PERMITTED
