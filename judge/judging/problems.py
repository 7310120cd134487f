"""Judging a submission of a problem (beyond Judge0): compile once, then run the program on
each of the problem's test cases, each checked by the problem's checker or decided by its
interactor, one verdict per case (docs/problems.md).

The program runs in the worker's own sandbox, as any submission; the problem's checker and
interactor run in a second sandbox of the worker's (another box, another uid), so that the
contestant's program can never reach their files (the answers, a secret number). Between two
cases the box goes back to what compiling left, as between Judge0's `number_of_runs`.

A checker that fails (testlib's exit 3, a crash, a limit) ends the submission with status 13
and the checker's message: never a verdict the checker did not give.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from judge.config import Config
from judge.contract.languages import Language, LanguageCatalog
from judge.contract.statuses import Status
from judge.judging import checkers
from judge.judging.interaction import interact
from judge.judging.pipeline import Pipeline, RunOutcome
from judge.judging.verdict import internal_error, judge_run, seconds
from judge.problems.cache import TestDataCache
from judge.problems.files import files_zip
from judge.sandbox import Limits, Outcome
from judge.store.problems import Case, ProblemStore, ProblemVersion

log = logging.getLogger(__name__)

SHOWN_STDOUT = 1024  # bytes of a visible case's stdout kept in its result
MESSAGE_BYTES = 4096
CHECKER_FILES = ("input.txt", "output.txt", "answer.txt")
# a program's own failures that come before what the interactor says
_PROGRAM_FIRST = frozenset({Status.TIME_LIMIT_EXCEEDED, Status.RUNTIME_ERROR_OTHER})
# testlib's exit codes
_CHECKER_VERDICTS = {0: "ok", 1: "wrong", 2: "presentation", 3: "fail"}


@dataclass
class JudgeProgram:
    """A problem's checker or interactor, compiled in the helper sandbox, ready to run."""

    pipeline: Pipeline
    row: dict[str, Any]
    language: Language
    snapshot: object


@dataclass
class CaseResult:
    case: Case
    status: Status
    outcome: RunOutcome | None
    message: str | None
    failure: str | None = None  # the checker or interactor failed: the submission is status 13

    def as_json(self) -> dict[str, Any]:
        result = self.outcome.result if self.outcome else None
        shown = None
        if result is not None and not self.case.hidden and result.stdout:
            shown = result.stdout[:SHOWN_STDOUT].decode("utf-8", errors="replace")
        return {"index": self.case.index, "status": self.status.as_json(),
                "time": str(seconds(result.cpu_time)) if result else None,
                "memory": result.memory_kb if result else None, "stdout": shown,
                "message": self.message, "hidden": self.case.hidden,
                "points": str(self.case.points)}


@dataclass
class ProblemJudge:
    """Judges problem submissions in a worker: `pipeline` is its own sandbox's, `helper()`
    the pipeline of its second sandbox, for checkers and interactors (opened once)."""

    pipeline: Pipeline
    helper: Callable[[], Pipeline]
    store: ProblemStore
    cache: TestDataCache
    languages: LanguageCatalog
    config: Config
    _versions: dict[int, ProblemVersion] = field(default_factory=dict)

    def version(self, version_id: int) -> ProblemVersion | None:
        """A version, from memory once read (versions never change)."""
        if version_id not in self._versions:
            found = self.store.version(version_id)
            if found is None:
                return None
            if len(self._versions) > 64:
                self._versions.clear()
            self._versions[version_id] = found
        return self._versions[version_id]

    def judge(self, row: dict[str, Any], language: Language,
              announce: Callable[[str, dict[str, Any]], None]) -> dict[str, Any]:
        version_id = row.get("problem_version_id")
        version = self.version(version_id) if version_id is not None else None
        if version is None:
            return internal_error(f"the problem {row['problem']} was deleted before this "
                                  "submission was judged")
        totals = {"total_test_cases": len(version.cases), "passed_test_cases": 0,
                  "score": Decimal(0), "test_cases": []}
        compiled = self.pipeline.compile(row, language)
        if compiled.final is not None:
            return {**compiled.final, **totals}
        if compiled.result is not None:
            announce("compiled", {"cached": self.pipeline.compile_seconds is None})
        try:
            judge_program = self._judge_program(version)
        except JudgeProgramError as e:
            return {**internal_error(str(e)), **totals}
        snapshot = self.pipeline.snapshot()
        results: list[CaseResult] = []
        for i, case in enumerate(version.cases):
            if i:
                self.pipeline.restore(snapshot)
            result = self._case(row, language, version, case, judge_program)
            results.append(result)
            announce("test_case", {**result.as_json(), "stdout": None})
            if result.failure is not None:
                break
            if result.status is not Status.ACCEPTED and not row.get("run_all_test_cases"):
                break
        return self._final(results, compiled.output, totals)

    # -- one case ---------------------------------------------------------------------------

    def _case(self, row: dict[str, Any], language: Language, version: ProblemVersion,
              case: Case, judge_program: JudgeProgram | None) -> CaseResult:
        if version.interactor is not None:
            assert judge_program is not None
            return self._interactive_case(row, language, case, judge_program)
        outcome = self.pipeline.run_once(row, language, stdin=self.cache.path(case.input_hash),
                                         check_output=False)
        if outcome.status is not Status.ACCEPTED:
            return CaseResult(case, outcome.status, outcome, outcome.message)
        output = outcome.result.stdout
        answer = self.cache.path(case.output_hash).read_bytes()
        builtin = checkers.builtin(version.checker)
        if builtin is not None:
            check = builtin(b"", output, answer)
        else:
            assert judge_program is not None
            check = self._run_checker(judge_program, case, output, answer)
        return self._checked(case, outcome, check)

    def _checked(self, case: Case, outcome: RunOutcome | None,
                 check: checkers.Check) -> CaseResult:
        if check.verdict == "ok":
            return CaseResult(case, Status.ACCEPTED, outcome, check.message)
        if check.verdict in ("wrong", "presentation"):
            message = check.message
            if check.verdict == "presentation":
                message = f"presentation error: {message}" if message else "presentation error"
            return CaseResult(case, Status.WRONG_ANSWER, outcome, message)
        return CaseResult(case, Status.INTERNAL_ERROR, outcome, check.message,
                          failure=check.message or "the checker failed")

    def _run_checker(self, program: JudgeProgram, case: Case, output: bytes,
                     answer: bytes) -> checkers.Check:
        """testlib's convention: `checker input.txt output.txt answer.txt`, exit 0/1/2/3."""
        program.pipeline.restore(program.snapshot)
        box = program.pipeline.sandbox.box
        box.replace("input.txt", self.cache.path(case.input_hash).read_bytes())
        box.replace("output.txt", output)
        box.replace("answer.txt", answer)
        run = program.pipeline.run_once({**program.row,
                                         "command_line_arguments": " ".join(CHECKER_FILES)},
                                        program.language, stdin=b"", check_output=False)
        return _judge_program_verdict(run, "checker")

    def _interactive_case(self, row: dict[str, Any], language: Language, case: Case,
                          program: JudgeProgram) -> CaseResult:
        program.pipeline.restore(program.snapshot)
        program.pipeline.sandbox.box.replace("input.txt",
                                            self.cache.path(case.input_hash).read_bytes())
        contestant = self.pipeline
        # the contestant's stderr never goes down the pipe to the interactor
        spec = dataclasses.replace(contestant.run_spec(row, language), stderr_to_stdout=False)
        judge_row = {**program.row, "command_line_arguments": "input.txt"}
        judge_spec = dataclasses.replace(
            program.pipeline.run_spec(judge_row, program.language, stdin=b""),
            limits=_judge_limits(self.config, spec.limits))
        result, judged = interact(contestant.sandbox, spec, program.pipeline.sandbox, judge_spec)
        outcome = judge_run(result, None)
        check = _judge_program_verdict(judge_run(judged, None), "interactor")
        if outcome.status in _PROGRAM_FIRST or (outcome.status is not Status.ACCEPTED
                                                and check.verdict == "ok"):
            # its own time or memory limit first; a crash counts unless the interactor had
            # its say already (a program that reads on after a wrong answer dies of SIGPIPE)
            return CaseResult(case, outcome.status, outcome, outcome.message)
        return self._checked(case, outcome, check)

    # -- the checker or interactor ----------------------------------------------------------

    def _judge_program(self, version: ProblemVersion) -> JudgeProgram | None:
        source = version.interactor or (version.checker
                                        if version.checker.get("type") == "custom" else None)
        if source is None:
            return None
        what = "interactor" if version.interactor else "checker"
        language = self.languages.get(int(source["language_id"]))
        if language is None or not language.available:
            raise JudgeProgramError(f"the {what}'s language {source['language_id']} is not "
                                    "available on this worker")
        pipeline = self.helper()
        files = {name: self.cache.path(digest).read_bytes()
                 for name, digest in version.files.items()}
        row = judge_program_row(self.config, source, files_zip(files))
        compiled = pipeline.compile(row, language)
        if compiled.final is not None:
            detail = (compiled.output or b"").decode("utf-8", errors="replace")[:MESSAGE_BYTES]
            raise JudgeProgramError(f"the problem's {what} does not compile: {detail}".strip())
        return JudgeProgram(pipeline, row, language, pipeline.snapshot())

    def _final(self, results: list[CaseResult], compile_output: bytes | None,
               totals: dict[str, Any]) -> dict[str, Any]:
        failure = next((r for r in results if r.failure is not None), None)
        first_bad = next((r for r in results if r.status is not Status.ACCEPTED), None)
        passed = [r for r in results if r.status is Status.ACCEPTED]
        runs = [r.outcome.result for r in results if r.outcome is not None]
        shown = first_bad or (results[-1] if results else None)
        stdout = None
        if shown is not None and shown.outcome is not None and not shown.case.hidden:
            stdout = shown.outcome.result.stdout or None
        values = {
            **totals,
            "status_id": Status.INTERNAL_ERROR if failure else
            (first_bad.status if first_bad else Status.ACCEPTED),
            "compile_output": compile_output, "stdout": stdout,
            "stderr": None, "exit_code": None, "exit_signal": None,
            "message": (failure.failure if failure else first_bad.message if first_bad else None),
            "time": max((seconds(r.cpu_time) for r in runs), default=None),
            "wall_time": max((seconds(r.wall_time) for r in runs), default=None),
            "memory": max((r.memory_kb for r in runs), default=None),
            "test_cases": [r.as_json() for r in results],
            "passed_test_cases": len(passed),
            "score": sum((r.case.points for r in passed), Decimal(0)),
        }
        if first_bad is not None and first_bad.outcome is not None:
            values.update(exit_code=first_bad.outcome.exit_code,
                          exit_signal=first_bad.outcome.exit_signal)
        return values


class JudgeProgramError(RuntimeError):
    """The problem's checker or interactor cannot be used; the message says why."""


def judge_program_row(config: Config, source: dict[str, Any], files: bytes | None
                      ) -> dict[str, Any]:
    """The submission-like row a checker or interactor compiles and runs as: the problem's
    source and files, the configured defaults (the same row the API's compile check
    submits, so that both meet in the compile cache)."""
    return {"source_code": source["source_code"], "language_id": int(source["language_id"]),
            "additional_files": files, "compiler_options": None,
            "command_line_arguments": None, "stdin": None, "expected_output": None,
            "number_of_runs": 1, "cpu_time_limit": Decimal(str(config.max_cpu_time_limit)),
            "cpu_extra_time": Decimal(str(config.cpu_extra_time)),
            "wall_time_limit": Decimal(str(config.max_wall_time_limit)),
            "memory_limit": config.max_memory_limit, "stack_limit": config.stack_limit,
            "max_processes_and_or_threads": config.max_processes_and_or_threads,
            "enable_per_process_and_thread_time_limit": False,
            "enable_per_process_and_thread_memory_limit": False,
            "max_file_size": config.max_max_file_size, "redirect_stderr_to_stdout": False,
            "enable_network": False}


def _judge_limits(config: Config, program: Limits) -> Limits:
    """An interactor gets the configured maxima, and waits as long as the program may."""
    return Limits(cpu_time=config.max_cpu_time_limit, extra_cpu_time=0,
                  wall_time=program.wall_time + 1, memory_kb=config.max_memory_limit,
                  stack_kb=config.max_stack_limit,
                  processes=config.max_max_processes_and_or_threads,
                  file_size_kb=config.max_max_file_size, output_bytes=64 * 1024)


def _judge_program_verdict(run: RunOutcome, what: str) -> checkers.Check:
    """A checker's or interactor's run as testlib reads it: its exit code, its words."""
    result = run.result
    words = (result.stderr or result.stdout or b"")[:MESSAGE_BYTES]
    message = words.decode("utf-8", errors="replace").strip() or None
    if result.outcome in (Outcome.OK, Outcome.NONZERO_EXIT):
        verdict = _CHECKER_VERDICTS.get(run.exit_code or 0)
        if verdict is not None:
            if verdict == "fail":
                message = f"the {what} failed: {message or 'exit status 3'}"
            return checkers.Check(verdict, message)
        return checkers.Check("fail", f"the {what} exited with status {run.exit_code}"
                                      + (f": {message}" if message else ""))
    return checkers.Check("fail", f"the {what} did not finish: "
                                  f"{result.message or result.outcome.value}")

