"""The info endpoints (§10, §15 items 28–29) with their exact shapes, on live engines."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

from judge.store.submissions import Storage

from .conftest import AUTHN, ROOT, wait_done
from .test_submissions import ALL_KEYS, PY

# §10.4 in order, with Judge0's defaults; ours differs only in the last value (the project
# defaults to the released 1.13.1 base64 behaviour).
CONFIG_INFO = {
    "maintenance_mode": False, "enable_wait_result": True, "enable_compiler_options": True,
    "allowed_languages_for_compile_options": [], "enable_command_line_arguments": True,
    "enable_submission_delete": False, "enable_callbacks": True, "callbacks_max_tries": 3,
    "callbacks_timeout": 5.0, "enable_additional_files": True, "max_queue_size": 100,
    "cpu_time_limit": 5.0, "max_cpu_time_limit": 15.0, "cpu_extra_time": 1.0,
    "max_cpu_extra_time": 5.0, "wall_time_limit": 10.0, "max_wall_time_limit": 20.0,
    "memory_limit": 128000, "max_memory_limit": 512000, "stack_limit": 64000,
    "max_stack_limit": 128000, "max_processes_and_or_threads": 60,
    "max_max_processes_and_or_threads": 120, "enable_per_process_and_thread_time_limit": False,
    "allow_enable_per_process_and_thread_time_limit": True,
    "enable_per_process_and_thread_memory_limit": False,
    "allow_enable_per_process_and_thread_memory_limit": True, "max_file_size": 1024,
    "max_max_file_size": 4096, "number_of_runs": 1, "max_number_of_runs": 20,
    "redirect_stderr_to_stdout": False, "max_extract_size": 10240,
    "enable_batched_submissions": True, "max_submission_batch_size": 20,
    "submission_cache_duration": 1.0, "use_docs_as_homepage": False,
    "allow_enable_network": True, "enable_network": False,
    "disable_implicit_base64_encoding": True,
}
TEXT = "text/plain; charset=utf-8"
RUBY_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def test_config_info_has_judge0s_keys_in_order_with_their_json_types(engine):
    resp = engine.get("/config_info")
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert list(resp.json()) == list(CONFIG_INFO)
    assert resp.json() == CONFIG_INFO
    assert '"callbacks_timeout":5.0' in resp.text  # floats stay floats


def test_config_info_shows_the_effective_configuration(closed_engine):
    body = closed_engine.get("/config_info").json()
    assert body["maintenance_mode"] is True and body["use_docs_as_homepage"] is True


def test_master_star_fields_returns_all_40_attributes(closed_engine):
    token = str(uuid.uuid4())
    with Storage(closed_engine.database_url, max_size=1) as store:
        store.insert_submission({"token": token, "language_id": PY, "source_code": b"x"})
    body = closed_engine.get(f"/submissions/{token}", fields="*").json()
    assert list(body) == ALL_KEYS
    assert body["status"] == {"id": 1, "description": "In Queue"}


def test_about_version_isolate_license(engine):
    assert engine.get("/about").json() == {
        "version": "1.14.0", "homepage": "https://judge0.com",
        "source_code": "https://github.com/judge0/judge0",
        "maintainer": "Herman Zvonimir Došilović <hermanz.dosilovic@gmail.com>"}
    version = engine.get("/version")
    assert (version.headers["Content-Type"], version.content) == (TEXT, b"1.14.0")
    isolate = engine.get("/isolate")
    assert isolate.headers["Content-Type"] == TEXT
    assert isolate.text.startswith("bubblewrap") and isolate.text.endswith("\n")
    assert "seccomp" in isolate.text
    license_ = engine.get("/license")
    assert license_.headers["Content-Type"] == TEXT
    assert license_.text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert license_.text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert Path(ROOT / "LICENSE").stat().st_size > 30000


def test_system_info_describes_the_api_host(engine):
    info = engine.get("/system_info").json()
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in info.items())
    assert info["Architecture"] and int(info["CPU(s)"]) >= 1
    assert re.match(r"^[\d.]+\w+$", info["Mem"])


def test_statistics_shape_cache_and_invalidation(engine):
    first = engine.get("/statistics", invalidate_cache="true").json()
    assert list(first) == ["created_at", "cached_until", "submissions", "languages",
                           "statuses", "database"]
    created = dt.datetime.fromisoformat(first["created_at"])
    assert RUBY_DATETIME.match(first["created_at"]) and RUBY_DATETIME.match(first["cached_until"])
    assert dt.datetime.fromisoformat(first["cached_until"]) - created == dt.timedelta(minutes=10)
    days = list(first["submissions"]["last_30_days"])
    today = created.date()
    assert days == [(today - dt.timedelta(days=n)).isoformat() for n in range(1, 31)]
    assert first["database"]["size_in_bytes"] > 0 and first["database"]["size_pretty"]
    for entry in first["statuses"]:
        assert set(entry["status"]) == {"id", "name"}  # `name`, not `description`
    counts = [entry["count"] for entry in first["languages"]]
    assert counts == sorted(counts, reverse=True)

    token = engine.post({"source_code": "print(1)", "language_id": PY}).json()["token"]
    wait_done(engine, token)
    cached = engine.get("/statistics").json()
    assert cached == first  # served from the cache for ten minutes
    fresh = engine.get("/statistics", invalidate_cache="true").json()
    assert fresh["submissions"]["total"] >= first["submissions"]["total"] + 1
    assert fresh["submissions"]["today"] >= 1
    python = next(e for e in fresh["languages"] if e["language"]["id"] == PY)
    assert python["language"]["name"].startswith("Python (3.")
    accepted = next(e for e in fresh["statuses"] if e["status"]["id"] == 3)
    assert accepted["status"]["name"] == "Accepted"


def test_workers_reports_the_live_workers_of_the_queue(engine, closed_engine):
    queues = engine.get("/workers").json()
    assert queues[0]["queue"] == "1.14.0"
    ours = queues[0]
    assert list(ours) == ["queue", "size", "available", "idle", "working", "paused", "failed"]
    assert ours["available"] == 2
    assert ours["idle"] + ours["working"] + ours["paused"] == 2
    assert closed_engine.get("/workers").json() == [
        {"queue": "1.14.0", "size": 0, "available": 0, "idle": 0, "working": 0, "paused": 0,
         "failed": 0}]


def test_home_is_empty_unless_it_shows_the_docs(engine, closed_engine):
    home = engine.get("/")
    assert (home.status_code, home.content) == (200, b"")
    docs = closed_engine.get("/")
    assert docs.status_code == 200 and docs.text.startswith("<!doctype html>")
    assert docs.text == closed_engine.get("/docs").text


def test_authenticate_is_post_only(engine, secured_engine):
    assert engine.http.post(f"{engine.url}/authenticate").status_code == 200
    assert engine.get("/authenticate").status_code == 404
    assert secured_engine.http.post(f"{secured_engine.url}/authenticate",
                                    headers=AUTHN).status_code == 200
