"""Sandbox overhead: the same commands bare (subprocess on the host) and in the sandbox, measured
interleaved in one run so background load hits both alike.

    python bench/sandbox.py [--runs 100]

Rows: /bin/true, `python3 -c pass`, and a gcc hello world compile + run (two sandboxed runs
against two bare ones). Prints median and p95 wall time in ms and the median overhead per run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import pct  # noqa: E402
from judge.sandbox import (  # noqa: E402
    Limits,
    NativeSandbox,
    Outcome,
    RunSpec,
    SandboxSettings,
    open_sandbox,  # noqa: E402
)

HELLO_C = b'#include <stdio.h>\nint main(){puts("hello");return 0;}\n'
LIMITS = Limits(cpu_time=10, wall_time=20, memory_kb=512_000, processes=64,
                file_size_kb=64 * 1024)


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare(argv: list[str], cwd: str) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)


def boxed(sandbox: NativeSandbox, argv: list[str]) -> None:
    result = sandbox.run(RunSpec(tuple(argv), LIMITS))
    assert result.outcome is Outcome.OK, result


def scenarios(sandbox: NativeSandbox, tmp: str) -> dict[str, tuple[Callable, Callable]]:
    Path(tmp, "main.c").write_bytes(HELLO_C)
    sandbox.box.reset()
    sandbox.box.write("main.c", HELLO_C)

    def gcc_bare() -> None:
        bare(["/usr/bin/gcc", "-O2", "main.c", "-o", "a.out"], tmp)
        bare(["./a.out"], tmp)

    def gcc_boxed() -> None:
        boxed(sandbox, ["/usr/bin/gcc", "-O2", "main.c", "-o", "a.out"])
        boxed(sandbox, ["./a.out"])

    return {
        "/bin/true": (lambda: bare(["/bin/true"], tmp), lambda: boxed(sandbox, ["/bin/true"])),
        "python3 -c pass": (lambda: bare(["/usr/bin/python3", "-c", "pass"], tmp),
                            lambda: boxed(sandbox, ["/usr/bin/python3", "-c", "pass"])),
        "gcc hello.c + run": (gcc_bare, gcc_boxed),
    }



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    # Its own uid range: leftovers are cleaned per box uid, so sharing the default 60000+
    # with a running engine would kill that engine's runs.
    sandbox = open_sandbox(SandboxSettings(boxes_dir=Path("/var/lib/judge/bench-boxes"),
                                           first_uid=64000))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cases = scenarios(sandbox, tmp)
            times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in cases}
            for run_bare, run_boxed in cases.values():  # warm-up
                run_bare()
                run_boxed()
            for _ in range(args.runs):
                for name, (run_bare, run_boxed) in cases.items():
                    times[name][0].append(timed(run_bare))
                    times[name][1].append(timed(run_boxed))
    finally:
        sandbox.close()
    print(f"\n{args.runs} runs each, interleaved; wall ms as seen by the caller\n")
    print("| command | bare median | bare p95 | sandboxed median | sandboxed p95 | overhead |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (b, s) in times.items():
        bm, sm = statistics.median(b) * 1e3, statistics.median(s) * 1e3
        print(f"| {name} | {bm:.1f} | {pct(b, .95) * 1e3:.1f} | {sm:.1f} | "
              f"{pct(s, .95) * 1e3:.1f} | {sm - bm:+.1f} |")


if __name__ == "__main__":
    main()
