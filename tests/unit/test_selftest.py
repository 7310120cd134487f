"""Self-test plumbing without a sandbox: records, the cache, the start-up loop, the table, and
the language-file rules the self-tests depend on."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from judge.cli.languages import debian_packages, table_row
from judge.config import Config
from judge.contract.languages import Language, LanguageCatalog, LanguageFileError, SelfTest
from judge.judging.pipeline import Pipeline
from judge.judging.selftest import (
    HELLO,
    RUNTIME_ERROR,
    LanguageCheck,
    ResultCache,
    StepResult,
    fingerprint,
    startup_checks,
    submission_row,
    zip_files,
)
from judge.sandbox.limits import cgroup_memory_bytes

PY = Language(id=71, name="Python (3.11.2)", source_file="script.py",
              run_cmd="/usr/bin/python3 script.py", self_test=SelfTest(hello="print(1)"))


def _write(tmp_path: Path, record: str) -> Path:
    path = tmp_path / "languages.yml"
    path.write_text(f"languages:\n  - {record}\n", encoding="utf-8")
    return path


class TestLanguageRecords:
    def test_the_version_is_the_first_number_in_the_names_parentheses(self, catalog):
        assert catalog.get(54).version == "12.2.0"
        assert catalog.get(48).version == "12.2.0"  # "(GCC 12.2.0, replaces GCC 7.4.0)"
        assert catalog.get(1007).version == "2.1.0"
        assert catalog.get(43).version is None

    def test_self_tests_are_read_with_their_defaults(self, catalog):
        test = catalog.get(69).self_test
        assert test.stdin == "world.\n" and test.expected == "hello, world"
        assert catalog.get(71).self_test.stdin == "world"
        assert set(catalog.get(89).self_test.files) >= {"compile.sh", "run.sh"}

    @pytest.mark.parametrize(("record", "message"), [
        ('{id: 1, name: "X", source_file: "a", run_cmd: "./a", self_test: "print(1)"}',
         "self_test must be a mapping"),
        ('{id: 1, name: "X", source_file: "a", run_cmd: "./a", self_test: {stdin: "x"}}',
         "needs a hello program or files"),
        ('{id: 1, name: "X", source_file: "a", run_cmd: "./a", mounts: [etc/x]}', "absolute"),
        ('{id: 1, name: "X", source_file: "a", run_cmd: "./a", mounts: [/box]}', "outside"),
        ('{id: 1, name: "X", source_file: "a", run_cmd: "./a", mounts: [/usr/]}', "outside"),
    ])
    def test_bad_self_tests_and_mounts_are_refused(self, tmp_path, record, message):
        with pytest.raises(LanguageFileError, match=message):
            LanguageCatalog.load(_write(tmp_path, record))

    def test_mounts_are_kept_per_language(self, catalog):
        assert catalog.get(61).mounts == ("/var/lib/ghc",)
        assert catalog.get(71).mounts == ()

    def test_shell_builtins_and_class_paths_in_commands(self):
        language = Language(id=1, name="x", source_file="m", run_cmd=(
            "trap '' XFSZ && /usr/bin/java -cp /usr/share/java/a.jar:/usr/share/b.jar:. Main"))
        assert language.programs() == ["/usr/bin/java", "/usr/share/java/a.jar",
                                       "/usr/share/b.jar"]

    def test_runtimes_that_reserve_address_space_keep_the_cgroup_limit_in_per_process_mode(
            self, catalog, config):
        row = submission_row(config, source="x", stdin=None)
        row["enable_per_process_and_thread_memory_limit"] = True
        pipeline = Pipeline(None, config)
        assert pipeline.run_limits(row, catalog.get(50)).per_process_memory
        assert not pipeline.run_limits(row, catalog.get(62)).per_process_memory

    def test_per_process_memory_mode_caps_the_whole_run_at_max_memory_limit(
            self, catalog, config):
        row = submission_row(config, source="x", stdin=None)
        row.update(enable_per_process_and_thread_memory_limit=True, memory_limit=512000,
                   max_processes_and_or_threads=60)
        limits = Pipeline(None, config).run_limits(row, catalog.get(50))
        assert cgroup_memory_bytes(limits) == config.max_memory_limit * 1024  # not 16 x 512 MB
        row["memory_limit"] = 16000
        limits = Pipeline(None, config).run_limits(row, catalog.get(50))
        assert cgroup_memory_bytes(limits) == 16 * 16000 * 1024


class TestRows:
    def test_a_self_test_runs_with_the_servers_default_limits(self):
        row = submission_row(Config.load(environ={}), source="x", stdin="world", expected="y")
        assert (row["memory_limit"], float(row["cpu_time_limit"])) == (128000, 5.0)
        assert row["source_code"] == b"x" and row["expected_output"] == b"y"
        assert row["additional_files"] is None and row["enable_network"] is False

    def test_files_become_a_zip(self):
        with zipfile.ZipFile(io.BytesIO(zip_files({"a/b.txt": "x"}))) as archive:
            assert archive.read("a/b.txt") == b"x"


class TestCache:
    def test_a_result_is_found_again_only_for_the_same_language_record(self, tmp_path):
        cache = ResultCache(tmp_path / "cache.json")
        check = LanguageCheck(71, PY.name, {HELLO: StepResult(True, 3, "0.01", 900)})
        assert cache.get(PY) is None
        cache.put(PY, check)
        assert cache.get(PY) == check
        assert cache.get(replace(PY, run_cmd="/usr/bin/python3 -S script.py")) is None

    def test_the_fingerprint_follows_the_binaries(self, tmp_path):
        tool = tmp_path / "tool"
        tool.write_text("v1")
        language = replace(PY, run_cmd=f"{tool} script.py")
        before = fingerprint(language)
        tool.unlink()
        tool.write_text("v2 is longer")
        assert fingerprint(language) != before

    def test_a_damaged_cache_is_empty(self, tmp_path):
        (tmp_path / "cache.json").write_text("{not json")
        assert ResultCache(tmp_path / "cache.json").get(PY) is None


class FakeTester:
    def __init__(self, passes: bool = True):
        self.checked: list[int] = []
        self.passes = passes

    def check(self, language, steps, version):
        self.checked.append(language.id)
        return LanguageCheck(language.id, language.name,
                             {HELLO: StepResult(self.passes, 3 if self.passes else 11)})


def test_the_startup_check_runs_each_toolchain_once_and_retries_failures(tmp_path):
    cache = ResultCache(tmp_path / "cache.json")
    other = replace(PY, id=50, name="C", run_cmd="/usr/bin/python3 -S script.py")
    tester = FakeTester()
    assert [c.hello_passed for c in startup_checks(tester, [PY, other], cache)] == [True, True]
    assert [c.language_id for c in startup_checks(tester, [PY, other], cache)] == [71, 50]
    assert tester.checked == [71, 50]  # the second start-up came from the cache
    failing = FakeTester(passes=False)
    list(startup_checks(failing, [replace(PY, id=72, name="R")], cache))
    list(startup_checks(failing, [replace(PY, id=72, name="R")], cache))
    assert failing.checked == [72, 72]  # a failure is tried again at the next start


def test_ids_that_share_a_toolchain_share_one_startup_check(tmp_path):
    tester = FakeTester()
    twins = [PY, replace(PY, id=92, name="Python (3.11.2)", introduced="1.14.0"),
             replace(PY, id=113, name="Python (3.11.2, replaces 3.14.0)")]
    checks = list(startup_checks(tester, twins, ResultCache(tmp_path / "cache.json")))
    assert tester.checked == [71]
    assert [(c.language_id, c.name, c.hello_passed) for c in checks] == [
        (71, PY.name, True), (92, "Python (3.11.2)", True),
        (113, "Python (3.11.2, replaces 3.14.0)", True)]


def test_the_table_row_shows_each_step_and_the_hello_cost():
    check = LanguageCheck(50, "C (GCC 12.2.0)", {
        HELLO: StepResult(True, 3, "0.003", 1556), RUNTIME_ERROR: StepResult(False, 3)},
        version="12.2.0", version_ok=True)
    assert table_row(check).split() == ["50", "C", "(GCC", "12.2.0)", "12.2.0", "ok", "-",
                                        "FAIL", "0.003", "1556", "KB"]
    assert not check.passed
    mismatch = replace(check, steps={HELLO: check.steps[HELLO]}, version="12.3.0",
                       version_ok=False)
    assert "12.3.0 (!)" in table_row(mismatch) and not mismatch.passed


def test_debian_packages_are_listed_once_each(catalog):
    packages = debian_packages(catalog)
    assert len(packages) == len(set(packages))
    assert {"gcc", "g++", "openjdk-17-jdk-headless", "ghc", "racket"} <= set(packages)
