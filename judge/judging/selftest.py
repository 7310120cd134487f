"""Language self-tests: prove, through the real sandbox and pipeline, that a language works here.

Each language in ``languages.yml`` carries its own test programs (DMOJ's executor self-tests):
a hello world that reads its name from stdin, a compile error for compiled languages and a
runtime error. They run as ordinary submissions with Judge0's default limits (128 MB, 5 s...),
so a language passes only if it works under the limits users get. ``judge languages check``
runs all three and checks the version the name advertises; every worker runs the hello world at
start-up and reports what passed (judge/language_reports.py).

The start-up test is cached per toolchain (:class:`ResultCache`): a language whose record and
binaries have not changed since it last passed is not run again, so a restart is fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from judge.config import Config
from judge.contract.languages import Language, LanguageCatalog
from judge.contract.statuses import Status
from judge.judging.pipeline import Pipeline
from judge.sandbox import RunSpec

HELLO, COMPILE_ERROR, RUNTIME_ERROR = "hello", "compile_error", "runtime_error"
ALL_STEPS = (HELLO, COMPILE_ERROR, RUNTIME_ERROR)
RUNTIME_ERRORS = frozenset({Status.RUNTIME_ERROR_SIGSEGV, Status.RUNTIME_ERROR_SIGXFSZ,
                            Status.RUNTIME_ERROR_SIGFPE, Status.RUNTIME_ERROR_SIGABRT,
                            Status.RUNTIME_ERROR_NZEC, Status.RUNTIME_ERROR_OTHER})
_VERSION_LIKE = re.compile(r"\d+\.\d+(?:\.\d+)*")
CACHE_FORMAT = 1


@dataclass
class StepResult:
    """One self-test program: did it end as it should, and what did it cost."""

    passed: bool
    status: int
    time: str | None = None  # seconds, Judge0's decimal string
    memory: int | None = None  # KB
    detail: str = ""  # why it failed: the program's or compiler's output, shortened


@dataclass
class LanguageCheck:
    """The self-test outcome of one language."""

    language_id: int
    name: str
    steps: dict[str, StepResult] = field(default_factory=dict)
    version: str | None = None  # what version_cmd printed (the advertised one if found)
    version_ok: bool | None = None  # None: not checked

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(step.passed for step in self.steps.values()) \
            and self.version_ok is not False

    @property
    def hello_passed(self) -> bool:
        return HELLO in self.steps and self.steps[HELLO].passed

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LanguageCheck:
        steps = {name: StepResult(**step) for name, step in data["steps"].items()}
        return cls(**{**data, "steps": steps})


def zip_files(files: Mapping[str, str]) -> bytes:
    """An in-memory zip of text files (what a client sends as ``additional_files``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def submission_row(config: Config, *, source: str | None, stdin: str | None,
                   expected: str | None = None, files: Mapping[str, str] | None = None
                   ) -> dict[str, Any]:
    """A submission as the pipeline reads it, with the server's default limits."""
    return {
        "source_code": source.encode() if source is not None else None,
        "stdin": stdin.encode() if stdin is not None else None,
        "expected_output": expected.encode() if expected is not None else None,
        "additional_files": zip_files(files) if files else None,
        "compiler_options": None, "command_line_arguments": None,
        "number_of_runs": 1, "cpu_time_limit": Decimal(str(config.cpu_time_limit)),
        "cpu_extra_time": Decimal(str(config.cpu_extra_time)),
        "wall_time_limit": Decimal(str(config.wall_time_limit)),
        "memory_limit": config.memory_limit, "stack_limit": config.stack_limit,
        "max_processes_and_or_threads": config.max_processes_and_or_threads,
        "max_file_size": config.max_file_size,
        "enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "redirect_stderr_to_stdout": False, "enable_network": False,
    }


def _shorten(output: bytes | None, limit: int = 300) -> str:
    text = (output or b"").decode(errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."


class SelfTester:
    """Runs self-tests through a pipeline (and so through its sandbox box)."""

    def __init__(self, pipeline: Pipeline, config: Config):
        self.pipeline = pipeline
        self.config = config

    def step(self, language: Language, step: str) -> StepResult | None:
        """Run one self-test program; None if the language has none for that step."""
        test = language.self_test
        if test is None:
            return None
        if step == HELLO:
            row = submission_row(self.config, source=test.hello, stdin=test.stdin,
                                 expected=test.expected, files=test.files)
        else:
            source = test.compile_error if step == COMPILE_ERROR else test.runtime_error
            if source is None or (step == COMPILE_ERROR and not language.is_compiled):
                return None
            row = submission_row(self.config, source=source, stdin=test.stdin)
        values = self.pipeline.judge(row, language)
        status = Status(values["status_id"])
        wanted = {HELLO: {Status.ACCEPTED}, COMPILE_ERROR: {Status.COMPILATION_ERROR},
                  RUNTIME_ERROR: RUNTIME_ERRORS}[step]
        passed = status in wanted
        detail = "" if passed else f"{status.description}: " + _shorten(
            values.get("compile_output") or values.get("stderr") or values.get("stdout")
            or (values.get("message") or "").encode())
        time = values.get("time")
        return StepResult(passed, int(status), str(time) if time is not None else None,
                          values.get("memory"), detail)

    def version(self, language: Language) -> tuple[str | None, bool | None]:
        """(what version_cmd printed, whether it contains the advertised version)."""
        wanted = language.version
        if language.version_cmd is None or wanted is None:
            return None, None
        sandbox = self.pipeline.sandbox
        sandbox.box.reset()
        result = sandbox.run(RunSpec(("/bin/bash", "-c", language.version_cmd),
                                     self.pipeline.compile_limits(language),
                                     stderr_to_stdout=True, mounts=language.mounts))
        output = result.stdout.decode(errors="replace")
        if re.search(rf"(?<![\d.]){re.escape(wanted)}(?![\d])", output):
            return wanted, True
        found = _VERSION_LIKE.search(output)
        return (found.group(0) if found else _shorten(result.stdout, 40) or None), False

    def check(self, language: Language, steps: Iterable[str] = ALL_STEPS, *,
              version: bool = True) -> LanguageCheck:
        check = LanguageCheck(language.id, language.name)
        for step in steps:
            result = self.step(language, step)
            if result is not None:
                check.steps[step] = result
        if version:
            check.version, check.version_ok = self.version(language)
        return check


def languages_to_test(catalog: LanguageCatalog, ids: Iterable[int] | None = None) -> list[Language]:
    """Active languages with a self-test whose toolchain is installed here, by id."""
    wanted = set(ids) if ids is not None else None
    return sorted((language for language in catalog.active()
                   if language.self_test is not None and language.is_installed()
                   and (wanted is None or language.id in wanted)), key=lambda lang: lang.id)


# What a language's name says about it, not how it runs: ids that share a toolchain (Judge0's
# 48, 49, 50 and 103 are all our GCC) share one start-up test.
_NOT_TOOLCHAIN = frozenset({"id", "name", "is_archived", "introduced", "available"})


def fingerprint(language: Language) -> str:
    """Changes when the language's toolchain record or one of its binaries changes (a package
    upgrade replaces the files, so their inode and mtime change); the same for ids that run
    the same toolchain."""
    record = {spec.name: getattr(language, spec.name) for spec in dataclasses.fields(language)
              if spec.name not in _NOT_TOOLCHAIN}
    stats = []
    for program in language.programs():
        path = program if program.startswith("/") else None
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        stats.append((program, st.st_ino, st.st_size, st.st_mtime_ns) if st else (program,))
    blob = json.dumps([record, stats], sort_keys=True, default=_plain).encode()
    return hashlib.sha256(blob).hexdigest()


def _plain(value: Any) -> Any:
    """JSON for the parts of a Language json.dumps does not know (SelfTest, read-only maps)."""
    if dataclasses.is_dataclass(value):
        return {spec.name: getattr(value, spec.name) for spec in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


class ResultCache:
    """Self-test outcomes on disk, per language and fingerprint, shared by the workers of a
    host. ``exclusive()`` serialises the start-up tests so only one worker runs them."""

    def __init__(self, path: Path):
        self.path = path

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data.get("languages", {}) if data.get("format") == CACHE_FORMAT else {}

    def get(self, language: Language) -> LanguageCheck | None:
        entry = self._load().get(str(language.id))
        if not entry or entry.get("fingerprint") != fingerprint(language):
            return None
        try:
            return LanguageCheck.from_json(entry["check"])
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, language: Language, check: LanguageCheck) -> None:
        entries = self._load()
        entries[str(language.id)] = {"fingerprint": fingerprint(language),
                                     "check": check.to_json()}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "languages": entries}, indent=1))
        os.replace(tmp, self.path)


def startup_checks(tester: SelfTester, languages: Iterable[Language], cache: ResultCache
                   ) -> Iterator[LanguageCheck]:
    """The workers' start-up test: hello world only, from the cache when it passed before
    with the same toolchain, once per toolchain. Yields each language's outcome as soon as it
    is known."""
    tested: dict[str, LanguageCheck] = {}
    with cache.exclusive():
        for language in languages:
            same = tested.get(fingerprint(language))
            cached = cache.get(language) if same is None else dataclasses.replace(
                same, language_id=language.id, name=language.name)
            if cached is not None and cached.hello_passed:
                yield cached
                continue
            check = tester.check(language, (HELLO,), version=False)
            cache.put(language, check)
            tested[fingerprint(language)] = check
            yield check
