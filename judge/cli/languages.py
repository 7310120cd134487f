"""`judge languages ...`: what languages.yml declares, and whether this host can run it.

    judge languages packages            the Debian packages of every language (make languages)
    judge languages check [ID...]       every installed language's self-tests, as a table
    judge languages check --startup     what a worker runs at start-up: hello world only,
                                        cached per toolchain, one JSON line per language
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from judge.config import Config
from judge.context import open_cli_sandbox
from judge.contract.languages import LanguageCatalog
from judge.judging.pipeline import Pipeline
from judge.judging.selftest import (
    ALL_STEPS,
    COMPILE_ERROR,
    HELLO,
    RUNTIME_ERROR,
    LanguageCheck,
    ResultCache,
    SelfTester,
    languages_to_test,
    startup_checks,
)

CACHE_NAME = "language-selftest.json"
STARTUP_NICENESS = 10  # the start-up tests share the CPU with submissions being judged


def cache_for(config: Config) -> ResultCache:
    """One cache per boxes directory: the workers of a host share it."""
    return ResultCache(Path(config.sandbox_boxes_dir) / CACHE_NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    packages = actions.add_parser("packages", help="print the Debian packages of every language")
    packages.add_argument("--missing", action="store_true",
                          help="only those not installed on this host")
    packages.set_defaults(action_run=_packages)
    check = actions.add_parser("check", help="run the installed languages' self-tests "
                                             "through the sandbox and print a table")
    check.add_argument("ids", nargs="*", type=int, metavar="ID", help="only these language ids")
    check.add_argument("--hello-only", action="store_true",
                       help="only the hello world (skip compile/runtime errors and versions)")
    check.add_argument("--startup", action="store_true",
                       help="the workers' start-up test: hello world, cached, JSON lines")
    check.set_defaults(action_run=_check)


def run(args: argparse.Namespace, config: Config) -> int:
    return args.action_run(args, config)


def debian_packages(catalog: LanguageCatalog) -> list[str]:
    """Every active language's packages, each once, in declaration order."""
    seen: dict[str, None] = {}
    for language in sorted(catalog.active(), key=lambda lang: lang.id):
        seen.update(dict.fromkeys(language.packages))
    return list(seen)


def _installed(package: str) -> bool:
    return Path(f"/var/lib/dpkg/info/{package}.list").exists() or any(
        Path("/var/lib/dpkg/info").glob(f"{package}:*.list"))


def _packages(args: argparse.Namespace, config: Config) -> int:
    packages = debian_packages(LanguageCatalog.load(detect_available=False))
    for package in packages:
        if not args.missing or not _installed(package):
            print(package)
    return 0


def _check(args: argparse.Namespace, config: Config) -> int:
    catalog = LanguageCatalog.load(judge0_version=config.judge0_version)
    languages = languages_to_test(catalog, args.ids or None)
    if args.ids and len(languages) != len(set(args.ids)):
        missing = sorted(set(args.ids) - {language.id for language in languages})
        print(f"not installed here or without a self-test: {missing}", file=sys.stderr)
    if args.startup:
        os.nice(STARTUP_NICENESS)
    sandbox = open_cli_sandbox(config)
    if sandbox is None:
        return 2
    try:
        tester = SelfTester(Pipeline(sandbox, config), config)
        if args.startup:
            for check in startup_checks(tester, languages, cache_for(config)):
                _emit_line(check, sys.stdout)
            return 0
        return _full_check(tester, languages, cache_for(config), args.hello_only)
    finally:
        sandbox.close()


def _emit_line(check: LanguageCheck, out: TextIO) -> None:
    out.write(json.dumps({"id": check.language_id, "ok": check.hello_passed}) + "\n")
    out.flush()


def _full_check(tester: SelfTester, languages: Iterable, cache: ResultCache,
                hello_only: bool) -> int:
    checks: list[LanguageCheck] = []
    started = time.monotonic()
    print(TABLE_HEADER)
    for language in languages:
        check = tester.check(language, (HELLO,) if hello_only else ALL_STEPS,
                             version=not hello_only)
        with cache.exclusive():
            cache.put(language, check)
        checks.append(check)
        print(table_row(check), flush=True)
    failed = [check for check in checks if not check.passed]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} languages passed "
          f"in {time.monotonic() - started:.0f} s")
    for check in failed:
        for step, result in check.steps.items():
            if not result.passed:
                print(f"  {check.language_id} {check.name}: {step}: {result.detail}")
        if check.version_ok is False:
            print(f"  {check.language_id} {check.name}: the toolchain reports version "
                  f"{check.version}")
    return 1 if failed else 0


TABLE_HEADER = (f"{'id':>5}  {'language':<38} {'version found':<16} {'hello':<6} "
                f"{'CE':<6} {'RE':<6} {'time':>6} {'memory':>8}")


def table_row(check: LanguageCheck) -> str:
    def cell(step: str) -> str:
        result = check.steps.get(step)
        return "-" if result is None else ("ok" if result.passed else "FAIL")

    hello = check.steps.get(HELLO)
    version = check.version or "-"
    if check.version_ok is False:
        version += " (!)"
    time_s = hello.time if hello and hello.time is not None else "-"
    memory = f"{hello.memory} KB" if hello and hello.memory is not None else "-"
    return (f"{check.language_id:>5}  {check.name[:38]:<38} {version[:16]:<16} "
            f"{cell(HELLO):<6} {cell(COMPILE_ERROR):<6} {cell(RUNTIME_ERROR):<6} "
            f"{time_s:>6} {memory:>8}")
