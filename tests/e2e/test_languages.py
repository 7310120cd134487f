"""Languages end to end: the core set's self-tests through the API, what the workers report,
the three /languages endpoints, and the `judge languages` command.

The full set is `judge languages check` (run by hand or by an operator after `make
languages`); this suite runs the self-tests of the languages `make test` installs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

from judge.config import Config
from judge.contract.languages import LanguageCatalog, sort_by_name
from judge.judging.selftest import (
    ALL_STEPS,
    COMPILE_ERROR,
    HELLO,
    RUNTIME_ERROR,
    RUNTIME_ERRORS,
    languages_to_test,
)
from judge.language_reports import LanguageReports

from ..hostcheck import live_processes, mounted, run_cgroups
from ..waiting import wait_for
from .conftest import ROOT
from .test_submissions import b64

# The core set (deps/debian-core.txt) with Judge0's aliases for older compiler versions.
CORE = (43, 44, 46, 48, 49, 50, 52, 53, 54, 62, 63, 71)
CATALOG = LanguageCatalog.load(detect_available=False)
CLI_BOXES, CLI_FIRST_UID = "/var/lib/judge/test-cli-boxes", 64500


def reports_of(engine) -> LanguageReports:
    config = Config.load(environ=engine.env)
    return LanguageReports(redis.Redis.from_url(engine.env["REDIS_URL"]), config.judge0_version)


def finished_reports(engine, timeout: float = 240) -> list:
    """The workers' reports once every live worker has finished its start-up self-test (the
    first start on a host tests every installed toolchain; later ones hit the cache)."""
    reports = reports_of(engine)

    def finished() -> list | None:
        live = reports.live()
        return live if len(live) >= 2 and all(report.done for report in live) else None
    return wait_for(finished, "the workers finished their self-tests", timeout)


def step_source(language_id: int, step: str) -> str | None:
    language = CATALOG.get(language_id)
    test = language.self_test
    if step == COMPILE_ERROR and not language.is_compiled:
        return None
    return {HELLO: test.hello, COMPILE_ERROR: test.compile_error,
            RUNTIME_ERROR: test.runtime_error}[step]


STEPS = [(language_id, step) for language_id in CORE for step in ALL_STEPS
         if step_source(language_id, step) is not None]


def submit_step(engine, language_id: int, step: str) -> dict:
    test = CATALOG.get(language_id).self_test
    body = {"source_code": b64(step_source(language_id, step)), "language_id": language_id}
    if test.stdin is not None:
        body["stdin"] = b64(test.stdin)
    if step == HELLO:
        body["expected_output"] = b64(test.expected)
    return engine.run(body, base64_encoded="true", fields="status,stdout,compile_output,stderr")


@pytest.mark.parametrize(("language_id", "step"), STEPS)
def test_core_language_self_test_through_the_api(engine, language_id, step):
    result = submit_step(engine, language_id, step)
    status = result["status"]["id"]
    wanted = {HELLO: {3}, COMPILE_ERROR: {6}, RUNTIME_ERROR: {int(s) for s in RUNTIME_ERRORS}}
    assert status in wanted[step], result


# Judge0 1.14.0's ids whose toolchain this host has (`make test` installs the core set plus
# Go, Rust and Kotlin; `make languages` the rest)
NEW_IDS_HERE = [i for i in range(90, 114) if CATALOG.get(i).is_installed()]


@pytest.mark.parametrize("language_id", NEW_IDS_HERE)
def test_judge0_1_14_ids_run_hello_world(engine, language_id):
    result = submit_step(engine, language_id, HELLO)
    assert result["status"]["id"] == 3, result


def test_every_worker_reports_what_its_self_test_passed(engine):
    installed = {language.id for language in languages_to_test(CATALOG)}
    for report in finished_reports(engine):
        assert set(CORE) <= report.ids <= installed, report


def test_get_languages_lists_exactly_the_reported_languages_in_judge0s_order(engine):
    reported = frozenset().union(*(report.ids for report in finished_reports(engine)))
    expected = [{"id": lang.id, "name": lang.name}
                for lang in sort_by_name(CATALOG.get(i) for i in reported)]
    # the API trusts what it read for two seconds: it catches up by itself
    wait_for(lambda: engine.get("/languages").json() == expected, "GET /languages caught up", 30)


def test_languages_all_lists_every_declared_language_with_is_archived(engine):
    everything = engine.get("/languages/all").json()
    assert [entry["id"] for entry in everything] == [lang.id for lang in CATALOG.all()]
    assert {"id": 47, "name": "Basic (FBC 1.07.1)", "is_archived": False} in everything
    assert {"id": 1, "name": "Bash (4.4)", "is_archived": True} in everything
    assert len([entry for entry in everything if entry["id"] >= 1000]) >= 12


def test_language_records_are_judge0s_six_keys_for_extras_and_unavailable_ones(engine):
    assert engine.get("/languages/1001").json() == {
        "id": 1001, "name": "AWK (GNU Awk 5.2.1)", "is_archived": False,
        "source_file": "script.awk", "compile_cmd": None, "run_cmd": "/usr/bin/gawk -f script.awk"}
    assert engine.get("/languages/83").json()["run_cmd"] == "./Main"
    assert engine.get("/languages/54").json()["name"] == "C++ (GCC 12.2.0, replaces GCC 9.2.0)"


@pytest.mark.parametrize("language_id", [47, 70, 83, 84, 87])
def test_unpackaged_judge0_languages_are_refused_with_422(engine, language_id):
    resp = engine.post({"source_code": "x", "language_id": language_id})
    assert resp.status_code == 422
    assert resp.json() == {"language_id": [
        f"language with id {language_id} is not available on this server"]}


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "SANDBOX_BOXES_DIR": CLI_BOXES, "SANDBOX_FIRST_UID": str(CLI_FIRST_UID)}
    return subprocess.run([sys.executable, "-m", "judge.cli.command", "languages", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_judge_languages_check_prints_a_table_of_the_self_tests():
    done = _cli("check", "103", "92")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:7] == ["id", "language", "version", "found", "hello", "CE", "RE"]
    python, c = lines[1].split(), lines[2].split()
    assert c[:7] == ["103", "C", "(GCC", "12.2.0)", "12.2.0", "ok", "ok"] and c[7] == "ok"
    assert python[0] == "92" and python[4:7] == ["ok", "-", "ok"]
    assert "2 of 2 languages passed" in done.stdout
    assert live_processes(CLI_FIRST_UID, 10) == [] and run_cgroups(CLI_FIRST_UID, 10) == []
    assert not mounted(CLI_BOXES + "/")


def test_the_startup_check_prints_one_json_line_per_language_from_its_cache():
    first = _cli("check", "--startup", "43", "46")
    again = _cli("check", "--startup", "43", "46")
    for done in (first, again):
        assert done.returncode == 0, done.stderr
        assert [json.loads(line) for line in done.stdout.splitlines()] == [
            {"id": 43, "ok": True}, {"id": 46, "ok": True}]


def test_judge_languages_packages_lists_every_toolchain_once():
    done = _cli("packages")
    packages = done.stdout.split()
    assert done.returncode == 0 and len(packages) == len(set(packages))
    for package in ("gcc", "g++", "openjdk-17-jdk-headless", "nasm", "ghc", "gnat", "racket"):
        assert package in packages
