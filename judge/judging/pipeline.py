"""Judging one submission: extract additional files, compile once, run `number_of_runs` times,
decide the verdict (§6 of docs/judge0-contract.md).

`additional_files` (§9.1) is a zip from the client, so it is hostile until proven otherwise:
it is unpacked *inside the sandbox* by `unzip -n` under the extraction limits (2 s CPU, each
file at most MAX_EXTRACT_SIZE KB, the box's tmpfs size and inode count for the whole), so a
zip-slip path, an absolute path, a symlink or a bomb can only affect the box. The source
file and our `compile.sh`/`run.sh` are written before it and `-n` never overwrites them; the
trusted side never follows a link the archive planted (box.py).

Differences from Judge0, on purpose:
- the program is compiled once per submission, not once per run; every run starts from a box
  holding exactly what the compile step left; with a compile cache (judge/judging/compile_cache.py),
  identical submissions share one compilation across all workers;
- a program killed by a signal is reported as such (statuses 7-10/12, `exit_signal`,
  `Caught fatal signal N`) instead of Judge0's bash-wrapped NZEC 128+N; a memory-limit kill is
  status 12, `exit_signal` 9, `Memory limit exceeded`; output beyond `max_file_size` is status 8
  (SIGXFSZ), as the file-size limit would have raised it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judge.config import Config
from judge.contract.languages import Language
from judge.contract.statuses import Status
from judge.judging.compile_cache import CompileCache, Flight, uncached
from judge.judging.verdict import (
    RunOutcome,
    compilation_error,
    final_values,
    internal_error,
    judge_run,
)
from judge.sandbox import Limits, Outcome, RunResult, RunSpec, Sandbox

COMPILE_SCRIPT, RUN_SCRIPT = "compile.sh", "run.sh"
PROJECT_COMPILE_SCRIPTS = ("compile.sh", "compile")  # language 89, in order of preference
PROJECT_RUN_SCRIPTS = ("run.sh", "run")
ARCHIVE = "additional_files.zip"
# unzip never overwrites (-n): the source file and our scripts, written first, win. The archive
# goes away afterwards so that programs see only its contents.
EXTRACT = ("/bin/sh", "-c", 'unzip -n -qq "$0"; rm -f "$0"', ARCHIVE)
COMPILE_TIMEOUT_OUTPUT = b"Compilation time limit exceeded."


class Pipeline:
    """Judges submissions in one sandbox. Construct once per worker process; without a
    `compile_cache` every submission compiles for itself."""

    def __init__(self, sandbox: Sandbox, config: Config,
                 compile_cache: CompileCache | None = None):
        self.sandbox = sandbox
        self.config = config
        self.compile_cache = compile_cache
        self.compile_seconds: float | None = None  # of the last judged submission, see judge()

    # -- limits ----------------------------------------------------------------------------

    def compile_limits(self, language: Language) -> Limits:
        c = self.config
        return Limits(
            cpu_time=c.max_cpu_time_limit, extra_cpu_time=0, wall_time=c.max_wall_time_limit,
            memory_kb=max(c.max_memory_limit, language.compile_memory_kb or 0),
            stack_kb=c.max_stack_limit,
            processes=max(c.max_max_processes_and_or_threads, language.compile_processes or 0),
            file_size_kb=c.max_max_file_size,
            output_bytes=c.max_max_file_size * 1024,
        )

    def extract_limits(self) -> Limits:
        c = self.config
        return Limits(cpu_time=2, extra_cpu_time=1, wall_time=4, memory_kb=c.max_memory_limit,
                      stack_kb=c.max_stack_limit, processes=c.max_max_processes_and_or_threads,
                      file_size_kb=c.max_extract_size, output_bytes=64 * 1024)

    def run_limits(self, row: dict[str, Any], language: Language | None = None) -> Limits:
        """The submission's limits. A runtime that reserves far more address space than it
        uses (JVM, V8, BEAM...) cannot live under a per-process address-space limit, so for
        it the memory limit stays the cgroup's total even in per-process mode. In per-process
        mode the processes together never get more than MAX_MEMORY_LIMIT."""
        per_process_memory = bool(row["enable_per_process_and_thread_memory_limit"])
        if language is not None and language.reserves_address_space:
            per_process_memory = False
        return Limits(
            cpu_time=float(row["cpu_time_limit"]), extra_cpu_time=float(row["cpu_extra_time"]),
            wall_time=float(row["wall_time_limit"]), memory_kb=row["memory_limit"],
            stack_kb=row["stack_limit"], processes=row["max_processes_and_or_threads"],
            file_size_kb=row["max_file_size"], output_bytes=max(row["max_file_size"], 1) * 1024,
            per_process_time=bool(row["enable_per_process_and_thread_time_limit"]),
            per_process_memory=per_process_memory,
            memory_ceiling_kb=self.config.max_memory_limit,
        )

    # -- steps -----------------------------------------------------------------------------

    def _prepare_box(self, row: dict[str, Any], language: Language) -> RunResult | None:
        """A fresh box with the source, our scripts, then the archive's files. Returns the
        extraction's result when the sandbox itself failed there, else None (an archive
        unzip rejects is ignored, as in Judge0)."""
        box = self.sandbox.box
        box.reset()
        if not language.is_project:
            box.write(language.source_file, row["source_code"] or b"")
            # Written before the archive is unpacked: a bomb cannot leave them without room.
            self._compile_command(row, language)
            self._run_command(row, language)
        if not row.get("additional_files"):
            return None
        box.write(ARCHIVE, row["additional_files"])
        extracted = self.sandbox.run(RunSpec(EXTRACT, self.extract_limits(),
                                             stderr_to_stdout=True))
        return extracted if extracted.outcome is Outcome.INTERNAL_ERROR else None

    def _compile_command(self, row: dict[str, Any], language: Language) -> str | None:
        if language.is_project:
            box = self.sandbox.box
            return next((name for name in PROJECT_COMPILE_SCRIPTS if box.exists(name)), None)
        script = self._compile_script(row, language)
        if script is None:
            return None
        self.sandbox.box.replace(COMPILE_SCRIPT, script)
        return COMPILE_SCRIPT

    def _compile_script(self, row: dict[str, Any], language: Language) -> bytes | None:
        if not language.compile_cmd:
            return None
        limits = self.compile_limits(language)
        script = language.compile_command(row.get("compiler_options"), {
            "memory_limit": limits.memory_kb, "stack_limit": limits.stack_kb,
            "max_processes_and_or_threads": limits.processes})
        return script.encode() + b"\n"

    def _run_command(self, row: dict[str, Any], language: Language) -> str:
        if language.is_project:
            box = self.sandbox.box
            return next((n for n in PROJECT_RUN_SCRIPTS if box.exists(n)), PROJECT_RUN_SCRIPTS[0])
        self.sandbox.box.replace(RUN_SCRIPT, self._run_script(row, language))
        return RUN_SCRIPT

    def _run_script(self, row: dict[str, Any], language: Language) -> bytes:
        return language.run_command(row.get("command_line_arguments"), row).encode() + b"\n"

    def _compile_flight(self, row: dict[str, Any],
                        language: Language) -> AbstractContextManager[Flight]:
        """The compile cache's flight for this submission. Its key covers all the compiler
        can see (the source, both scripts, the additional files) and the limits it runs
        under; the project language's compile is the user's own script, never cached."""
        if self.compile_cache is None or not language.is_compiled or language.is_project:
            return uncached()
        return self.compile_cache.flight(self.compile_cache.key(
            language, self._compile_script(row, language), self._run_script(row, language),
            repr(self.compile_limits(language)), repr(self.extract_limits()),
            row["source_code"], row.get("additional_files")))

    def _compile(self, row: dict[str, Any], language: Language) -> RunResult | None:
        script = self._compile_command(row, language)
        if script is None:
            return None
        return self.sandbox.run(RunSpec(("/bin/bash", script), self.compile_limits(language),
                                        stderr_to_stdout=True, mounts=language.mounts))

    def run_spec(self, row: dict[str, Any], language: Language,
                 stdin: bytes | Path | None = None) -> RunSpec:
        """The run of the compiled program in the box; `stdin` replaces the submission's
        own (a problem's test case)."""
        # bash only where the line needs it (and for the project language's own script)
        argv = language.run_argv(row.get("command_line_arguments"), row)
        return RunSpec(argv or ("/bin/bash", self._run_command(row, language)),
                       self.run_limits(row, language),
                       stdin=(row.get("stdin") or b"") if stdin is None else stdin,
                       stderr_to_stdout=bool(row["redirect_stderr_to_stdout"]),
                       network=bool(row.get("enable_network")), mounts=language.mounts)

    def run_once(self, row: dict[str, Any], language: Language,
                 stdin: bytes | Path | None = None, expected: bytes | None = None,
                 check_output: bool = True) -> RunOutcome:
        """One run of the compiled program in the box; `stdin` and `expected` replace the
        submission's own (a problem's test case), `check_output=False` leaves the output to
        a checker."""
        result = self.sandbox.run(self.run_spec(row, language, stdin))
        if not check_output:
            return judge_run(result, None)
        return judge_run(result, row.get("expected_output") if stdin is None else expected)

    # -- the whole submission --------------------------------------------------------------

    def compile(self, row: dict[str, Any], language: Language) -> Compiled:
        """The box ready to run the submission's program (compiled once, through the compile
        cache), or the final values of a submission that ends here (a compilation error, a
        failure of the sandbox). Sets `compile_seconds` (None: nothing compiled here: an
        interpreted language, or the compile cache had it)."""
        self.compile_seconds = None
        with self._compile_flight(row, language) as flight:
            compiled = flight.restore(self.sandbox.box)  # a hit: the box as compiling left it
            if compiled is None:
                failed = self._prepare_box(row, language)
                if failed is not None:
                    return Compiled(None, None, internal_error(
                        failed.message or "extracting additional_files failed"))
                compiled = self._compile(row, language)
                flight.publish(compiled, self.sandbox.box)
                if compiled is not None:
                    self.compile_seconds = compiled.wall_time
        compile_output = compiled.stdout or None if compiled else None
        if compiled is not None and compiled.outcome is not Outcome.OK:
            if compiled.outcome is Outcome.INTERNAL_ERROR:
                return Compiled(compiled, compile_output, internal_error(
                    compiled.message or "compilation failed in the sandbox"))
            if compiled.outcome in (Outcome.TIME_LIMIT_CPU, Outcome.TIME_LIMIT_WALL):
                compile_output = COMPILE_TIMEOUT_OUTPUT
            return Compiled(compiled, compile_output, compilation_error(compile_output))
        return Compiled(compiled, compile_output, None)

    def judge(self, row: dict[str, Any], language: Language,
              compiled_hook: Callable[[bool], None] | None = None) -> dict[str, Any]:
        """Judge a submission row; returns the columns to store with its final status.
        `compiled_hook(cached)` is called once a compiled language's program is compiled,
        before it runs (the `compiled` live event)."""
        compiled = self.compile(row, language)
        if compiled.final is not None:
            return compiled.final
        if compiled.result is not None and compiled_hook is not None:
            compiled_hook(self.compile_seconds is None)
        runs = max(int(row["number_of_runs"]), 1)
        snapshot = self.snapshot() if runs > 1 else None
        outcomes: list[RunOutcome] = []
        for i in range(runs):
            if i:
                self.restore(snapshot)
            outcomes.append(self.run_once(row, language))
            if outcomes[-1].status is not Status.ACCEPTED:
                break
        return final_values(outcomes, compiled.output)

    def snapshot(self) -> object:
        """What the box holds now (the compiled program), for `restore` before a next run."""
        box = self.sandbox.box
        return box.snapshot(box.size_kb * 1024)  # cannot be over

    def restore(self, snapshot: object) -> None:
        """The box as `snapshot` found it, for the next run (or test case): emptied the way
        it is between submissions (the warm sandbox stays: a new tmpfs would cost a new one),
        then the snapshot's files written back."""
        self.sandbox.prepare()
        self.sandbox.box.restore(snapshot)


@dataclass(frozen=True)
class Compiled:
    """The compile step's result (None: nothing to compile), its output, and the final
    values when the submission ends there."""

    result: RunResult | None
    output: bytes | None
    final: dict[str, Any] | None
