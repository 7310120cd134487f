"""`judge run FILE --language ID`: judge one file on this machine through the real sandbox and
pipeline, without the API, database or queue. Useful to try a language or debug a verdict."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from judge.config import Config
from judge.context import open_cli_sandbox
from judge.contract.languages import LanguageCatalog
from judge.contract.submission.render import serialize
from judge.contract.submission.rules import parse_create
from judge.judging.pipeline import Pipeline

LIMIT_OPTIONS = ("cpu_time_limit", "cpu_extra_time", "wall_time_limit", "memory_limit",
                 "stack_limit", "max_processes_and_or_threads", "max_file_size",
                 "number_of_runs", "compiler_options", "command_line_arguments")
SWITCHES = ("enable_network", "redirect_stderr_to_stdout",
            "enable_per_process_and_thread_time_limit",
            "enable_per_process_and_thread_memory_limit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the source file")
    parser.add_argument("--language", "-l", type=int, required=True, help="Judge0 language id")
    parser.add_argument("--stdin", type=Path, help="file to feed on standard input")
    parser.add_argument("--expected-output", type=Path, help="file with the expected output")
    for name in LIMIT_OPTIONS:
        parser.add_argument("--" + name.replace("_", "-"), dest=name)
    for name in SWITCHES:
        parser.add_argument("--" + name.replace("_", "-"), dest=name, action="store_true",
                            default=None)


def run(args: argparse.Namespace, config: Config) -> int:
    languages = LanguageCatalog.load(judge0_version=config.judge0_version)
    body: dict[str, Any] = {"language_id": args.language,
                            "source_code": args.file.read_bytes().decode("latin-1")}
    if args.stdin:
        body["stdin"] = args.stdin.read_bytes().decode("latin-1")
    if args.expected_output:
        body["expected_output"] = args.expected_output.read_bytes().decode("latin-1")
    body.update({name: getattr(args, name) for name in LIMIT_OPTIONS + SWITCHES
                 if getattr(args, name) is not None})
    attrs, errors = parse_create(body, False, config, languages)
    if errors:
        print(json.dumps(errors, indent=2), file=sys.stderr)
        return 2
    # parse_create decoded text as UTF-8; re-read the files so any byte goes through unchanged
    attrs["source_code"] = args.file.read_bytes()
    if args.stdin:
        attrs["stdin"] = args.stdin.read_bytes()
    sandbox = open_cli_sandbox(config)
    if sandbox is None:
        return 2
    try:
        values = Pipeline(sandbox, config).judge(attrs, languages.get(args.language))
    finally:
        sandbox.close()
    row = {**attrs, **values, "token": None}
    fields = ["status", "time", "wall_time", "memory", "exit_code", "exit_signal", "message",
              "stdout", "stderr", "compile_output"]
    print(json.dumps(serialize(row, fields, base64=False, languages=languages)
                     if _ascii(row) else serialize(row, fields, base64=True,
                                                   languages=languages), indent=2))
    return 0 if values["status_id"] == 3 else 1


def _ascii(row: dict[str, Any]) -> bool:
    return all(value is None or value.isascii() for key, value in row.items()
               if key in ("stdout", "stderr", "compile_output") and isinstance(value, bytes))
