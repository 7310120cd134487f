"""Structured logs (judge/logs.py): one JSON object per line with the context's fields, or
text; LOG_FORMAT and LOG_LEVEL. The live worker's log is checked end to end in
tests/e2e/test_metrics.py (every line JSON, the token on every line about a submission)."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from judge import logs
from judge.config import Config

TOKEN = "0c3a6e47-7f4e-4a43-9d5b-0a0d6f2b4d11"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer; the logging set-up restored afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    process_fields = dict(logs._process_fields)
    buffer = io.StringIO()
    logs.configure("json", "INFO", stream=buffer)
    try:
        yield buffer
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        logs._process_fields.clear()
        logs._process_fields.update(process_fields)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_time_level_logger_and_message(stream):
    logging.getLogger("judge.test").warning("queue %s is %d deep", "main", 3)
    [line] = lines(stream)
    assert line["level"] == "WARNING" and line["logger"] == "judge.test"
    assert line["message"] == "queue main is 3 deep"
    assert line["time"].endswith("Z") and len(line["time"]) == len("2024-04-03T05:40:51.306Z")


def test_a_bound_token_is_on_every_line_of_its_block_and_gone_after(stream):
    log = logging.getLogger("judge.test")
    with logs.bind(token=TOKEN):
        log.info("compiling")
        logging.getLogger("judge.sandbox").info("box reset")
    log.info("idle")
    first, second, third = lines(stream)
    assert first["token"] == second["token"] == TOKEN
    assert "token" not in third


def test_a_thread_started_in_a_copy_of_the_context_keeps_the_token(stream):
    log = logging.getLogger("judge.test")
    with logs.bind(token=TOKEN):
        copied = threading.Thread(target=contextvars.copy_context().run,
                                  args=(log.info, "renewing the lease"))
        plain = threading.Thread(target=log.info, args=("a plain thread",))
    for thread in (copied, plain):
        thread.start()
        thread.join()
    by_message = {line["message"]: line for line in lines(stream)}
    assert by_message["renewing the lease"]["token"] == TOKEN
    assert "token" not in by_message["a plain thread"]


def test_process_fields_are_on_every_line_of_every_thread(stream):
    logs.bind_process(worker="host:42:box3")
    thread = threading.Thread(target=logging.getLogger("judge.test").info, args=("beat",))
    thread.start()
    thread.join()
    assert lines(stream)[0]["worker"] == "host:42:box3"


def test_extra_fields_and_tracebacks_are_kept(stream):
    log = logging.getLogger("judge.test")
    log.info("judged", extra={"status_id": 11})
    try:
        raise RuntimeError("the sandbox failed")
    except RuntimeError:
        log.exception("judging failed")
    judged, failed = lines(stream)
    assert judged["status_id"] == 11
    assert failed["message"] == "judging failed"
    assert "RuntimeError: the sandbox failed" in failed["exception"]


def test_an_access_line_names_the_request_and_its_submission(stream):
    logs.access("10.0.0.7", "GET", f"/submissions/{TOKEN}", 200, 0.00152)
    [line] = lines(stream)
    assert line["logger"] == "judge.access"
    assert line["message"] == f"GET /submissions/{TOKEN} 200"
    assert line["token"] == TOKEN and line["status"] == 200 and line["duration_ms"] == 1.52
    assert line["remote"] == "10.0.0.7"


def test_the_level_filters_and_configuring_again_replaces_the_handler(stream):
    buffer = io.StringIO()
    logs.configure("json", "warning", stream=buffer)
    logging.getLogger("judge.test").info("hidden")
    logging.getLogger("judge.test").error("shown")
    assert [line["message"] for line in lines(buffer)] == ["shown"]
    assert stream.getvalue() == ""  # the first handler is gone: no line twice


def test_text_format_is_one_readable_line_with_the_fields(stream):
    buffer = io.StringIO()
    logs.configure("text", "INFO", stream=buffer)
    with logs.bind(token=TOKEN):
        logging.getLogger("judge.test").info("judged")
    text = buffer.getvalue()
    assert text.endswith(f" INFO judge.test judged token={TOKEN}\n")


@pytest.mark.parametrize(("fmt", "level", "message"), [
    ("yaml", "INFO", "LOG_FORMAT must be one of json, text"),
    ("json", "LOUD", "LOG_LEVEL must be"),
])
def test_unknown_formats_and_levels_are_refused_with_the_variable_named(fmt, level, message):
    with pytest.raises(ValueError, match=message):
        logs.configure(fmt, level, stream=io.StringIO())


def test_json_at_info_is_the_default_and_both_are_configurable():
    assert (Config().log_format, Config().log_level) == ("json", "INFO")
    config = Config.load(environ={"LOG_FORMAT": "text", "LOG_LEVEL": "DEBUG"})
    assert (config.log_format, config.log_level) == ("text", "DEBUG")
