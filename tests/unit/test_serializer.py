"""Rendering a stored submission (§4.1, §5.1-§5.3, §15 items 13-16)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from judge.contract.languages import LanguageCatalog
from judge.contract.submission.fields import ATTRIBUTES, parse_fields, select_fields
from judge.contract.submission.render import (
    UTF8_ERROR_CREATE_WAIT,
    UTF8_ERROR_MULTIPLE,
    UTF8_ERROR_SINGLE,
    Utf8Error,
    serialize,
)

TOKEN = "7e1b0e2c-3f41-4b7c-9a4a-0c9b7a1f4c55"


def stored(**overrides: Any) -> dict[str, Any]:
    """A finished, accepted Python submission as the storage layer returns it."""
    row = {
        "id": 1, "source_code": b"print('hello')\n", "language_id": 71, "stdin": None,
        "expected_output": None, "stdout": b"hello\n", "status_id": 3,
        "created_at": datetime(2024, 4, 3, 5, 40, 51, 306789, tzinfo=UTC),
        "finished_at": datetime(2024, 4, 3, 5, 40, 52, 1000, tzinfo=UTC),
        "time": Decimal("0.002"), "memory": 3136, "stderr": None, "token": uuid.UUID(TOKEN),
        "number_of_runs": 1, "cpu_time_limit": Decimal("5.0"), "cpu_extra_time": Decimal("1"),
        "wall_time_limit": Decimal("10.0"), "memory_limit": 128000, "stack_limit": 64000,
        "max_processes_and_or_threads": 60, "enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False, "max_file_size": 1024,
        "compile_output": None, "exit_code": 0, "exit_signal": None, "message": None,
        "wall_time": Decimal("0.010"), "compiler_options": None, "command_line_arguments": None,
        "redirect_stderr_to_stdout": False, "callback_url": None, "additional_files": None,
        "enable_network": False, "started_at": None, "queued_at": None,
        "updated_at": datetime(2024, 4, 3, 5, 40, 52, tzinfo=UTC), "queue_host": "api-1",
        "execution_host": "worker-1",
    }
    row.update(overrides)
    return row


def test_default_fields_render_in_judge0_order(catalog: LanguageCatalog) -> None:
    body = serialize(stored(), None, False, catalog)
    assert json.dumps(body) == json.dumps({
        "stdout": "hello\n", "time": "0.002", "memory": 3136, "stderr": None, "token": TOKEN,
        "compile_output": None, "message": None, "status": {"id": 3, "description": "Accepted"},
    })


def test_star_renders_all_40_attributes_in_order_with_judge0_types(catalog: LanguageCatalog) -> None:
    body = serialize(stored(), select_fields("*", master_star=True), False, catalog)
    assert list(body) == list(ATTRIBUTES)
    assert body["created_at"] == "2024-04-03T05:40:51.306Z"
    assert body["finished_at"] == "2024-04-03T05:40:52.001Z"
    assert body["updated_at"] == "2024-04-03T05:40:52.000Z" and body["started_at"] is None
    assert (body["cpu_time_limit"], body["cpu_extra_time"], body["wall_time_limit"], body["wall_time"]) == \
        ("5.0", "1.0", "10.0", "0.01")
    assert body["memory_limit"] == 128000 and body["enable_network"] is False
    assert body["language"] == {"id": 71, "name": catalog.get(71).name}
    assert body["status_id"] == 3 and body["token"] == TOKEN


def test_output_order_ignores_the_order_fields_were_asked_in(catalog: LanguageCatalog) -> None:
    body = serialize(stored(), ["status", "language", "token", "stdout"], False, catalog)
    assert list(body) == ["stdout", "token", "status", "language"]


class TestBase64Output:
    def test_text_fields_are_base64_with_60_column_lines(self, catalog: LanguageCatalog) -> None:
        long_output = b"0123456789" * 10
        body = serialize(stored(stdout=long_output, stderr=b"", source_code=b"hello, Judge0\n"),
                         parse_fields("*"), True, catalog)
        assert body["source_code"] == "aGVsbG8sIEp1ZGdlMAo=\n"
        assert body["stdout"].split("\n")[0] == "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0"
        assert body["stdout"].endswith("\n") and len(body["stdout"].split("\n")) == 4
        assert body["stderr"] == "" and body["stdin"] is None

    def test_message_is_base64_only_in_base64_mode(self, catalog: LanguageCatalog) -> None:
        row = stored(message="Exited with error status 139", status_id=11)
        assert serialize(row, ["message"], True, catalog) == {"message": "RXhpdGVkIHdpdGggZXJyb3Igc3RhdHVzIDEzOQ==\n"}
        assert serialize(row, ["message"], False, catalog) == {"message": "Exited with error status 139"}

    def test_additional_files_are_always_base64(self, catalog: LanguageCatalog) -> None:
        row = stored(additional_files=b"PK\x03\x04\xff")
        assert serialize(row, ["additional_files"], False, catalog) == {"additional_files": "UEsDBP8=\n"}
        assert serialize(row, ["additional_files"], True, catalog) == {"additional_files": "UEsDBP8=\n"}

    def test_other_fields_are_not_affected(self, catalog: LanguageCatalog) -> None:
        row = stored(compiler_options="-O2", callback_url="http://x")
        assert serialize(row, ["compiler_options", "callback_url", "time"], True, catalog) == \
            {"time": "0.002", "compiler_options": "-O2", "callback_url": "http://x"}


class TestPlainModeUtf8Error:
    @pytest.mark.parametrize("text", ["ć".encode(), "あ".encode(), "‘main’".encode(), b"\xe2"])
    def test_any_byte_outside_ascii_in_a_selected_text_field_raises(self, text: bytes, catalog: LanguageCatalog) -> None:
        with pytest.raises(Utf8Error) as raised:
            serialize(stored(compile_output=text), ["compile_output"], False, catalog)
        assert raised.value.attribute == "compile_output"

    def test_unselected_fields_do_not_matter(self, catalog: LanguageCatalog) -> None:
        assert serialize(stored(stdin="ć".encode()), ["stdout"], False, catalog) == {"stdout": "hello\n"}

    def test_ascii_control_characters_are_fine(self, catalog: LanguageCatalog) -> None:
        assert serialize(stored(stdout=b"\x00\x1b[0m\x7f"), ["stdout"], False, catalog) == {"stdout": "\x00\x1b[0m\x7f"}

    def test_base64_mode_has_no_problem_with_any_byte(self, catalog: LanguageCatalog) -> None:
        assert serialize(stored(stdout="ć".encode()), ["stdout"], True, catalog) == {"stdout": "xIc=\n"}

    def test_messages_are_judge0s(self) -> None:
        assert UTF8_ERROR_SINGLE == ("some attributes for this submission cannot be converted to UTF-8, "
                                     "use base64_encoded=true query parameter")
        assert UTF8_ERROR_MULTIPLE == ("some attributes for one or more submissions cannot be converted "
                                       "to UTF-8, use base64_encoded=true query parameter")
        assert UTF8_ERROR_CREATE_WAIT == UTF8_ERROR_SINGLE


class TestRowShapes:
    def test_missing_columns_and_queued_rows_render_as_null(self, catalog: LanguageCatalog) -> None:
        row = {"token": TOKEN, "status_id": 1, "language_id": 71}
        body = serialize(row, None, False, catalog)
        assert body == {"stdout": None, "time": None, "memory": None, "stderr": None, "token": TOKEN,
                        "compile_output": None, "message": None, "status": {"id": 1, "description": "In Queue"}}

    def test_float_times_from_the_pipeline_render_like_decimals(self, catalog: LanguageCatalog) -> None:
        body = serialize(stored(time=(0.002 + 0.002 + 0.003) / 3), ["time"], False, catalog)
        assert body == {"time": "0.002333333333333333"}

    def test_unknown_language_renders_as_null(self, catalog: LanguageCatalog) -> None:
        assert serialize(stored(language_id=999), ["language"], False, catalog) == {"language": None}

    def test_memoryview_text_from_the_database_is_accepted(self, catalog: LanguageCatalog) -> None:
        assert serialize(stored(stdout=memoryview(b"hi")), ["stdout"], True, catalog) == {"stdout": "aGk=\n"}


def test_a_status_enum_in_the_row_renders_as_a_plain_number(catalog: LanguageCatalog) -> None:
    from judge.contract.statuses import Status

    body = serialize(stored(status_id=Status.WRONG_ANSWER), ["status_id", "status"], False, catalog)
    assert json.dumps(body) == '{"status_id": 4, "status": {"id": 4, "description": "Wrong Answer"}}'
