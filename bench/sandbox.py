"""Sandbox overhead: the same commands bare (subprocess on the host) and in the sandbox, measured
interleaved in one run so background load hits both alike.

    python bench/sandbox.py [--runs 100]

Rows: a static C hello world, /bin/true, `python3 -c pass` and a gcc hello world compile + run
(two sandboxed runs against two bare ones) in a warm box session (zygote.py); the static hello
again on the cold path (one bwrap per run, what runs with networking use); and what a worker
does between two submissions, `prepare()` (the sandbox emptied as if new), plus the next
submission's first run, against one bare run.
Prints median and p95 wall time in ms and the median overhead per run.
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


Cases = dict[str, tuple[Callable, Callable]]


def scenarios(warm: NativeSandbox, cold: NativeSandbox, tmp: str) -> tuple[Cases, ...]:
    Path(tmp, "main.c").write_bytes(HELLO_C)
    subprocess.run(["gcc", "-O2", "-static", "-o", "hello", "main.c"], cwd=tmp, check=True)
    static = Path(tmp, "hello").read_bytes()
    for sandbox in (warm, cold):
        sandbox.box.reset()
        sandbox.box.write("main.c", HELLO_C)
        sandbox.box.write("hello", static, mode=0o755)

    def gcc_bare() -> None:
        bare(["/usr/bin/gcc", "-O2", "main.c", "-o", "a.out"], tmp)
        bare(["./a.out"], tmp)

    def gcc_boxed() -> None:
        boxed(warm, ["/usr/bin/gcc", "-O2", "main.c", "-o", "a.out"])
        boxed(warm, ["./a.out"])

    def new_session() -> None:
        """What a worker does between two submissions, `prepare()` (the session's sandbox
        emptied as if new: zygote.py), then the next submission's first run."""
        warm.box.fresh = False
        warm.prepare()
        warm.box.write("main.c", HELLO_C)
        warm.box.write("hello", static, mode=0o755)
        boxed(warm, ["./hello"])

    return {
        "static hello (C, -static)": (lambda: bare(["./hello"], tmp),
                                      lambda: boxed(warm, ["./hello"])),
        "/bin/true": (lambda: bare(["/bin/true"], tmp), lambda: boxed(warm, ["/bin/true"])),
        "python3 -c pass": (lambda: bare(["/usr/bin/python3", "-c", "pass"], tmp),
                            lambda: boxed(warm, ["/usr/bin/python3", "-c", "pass"])),
        "gcc hello.c + run (2 runs)": (gcc_bare, gcc_boxed),
    }, {"static hello, cold: a bwrap per run": (lambda: bare(["./hello"], tmp),
                                                lambda: boxed(cold, ["./hello"]))
    }, {"next submission: prepare() + first run (static hello)": (
        lambda: bare(["./hello"], tmp), new_session)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    # Its own uid range: leftovers are cleaned per box uid, so sharing the default 60000+
    # with a running engine would kill that engine's runs.
    boxes = Path("/var/lib/judge/bench-boxes")
    warm = open_sandbox(SandboxSettings(boxes_dir=boxes, first_uid=64000))
    cold = open_sandbox(SandboxSettings(boxes_dir=boxes, first_uid=64000, zygotes=False))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # Warm runs, cold runs and new sessions are measured apart: tearing a sandbox down
            # leaves kernel work (its namespaces) that would land on whichever row came next.
            *groups, = scenarios(warm, cold, tmp)
            times: dict[str, tuple[list[float], list[float]]] = {
                n: ([], []) for cases in groups for n in cases}
            for cases in groups:
                for run_bare, run_boxed in cases.values():  # warm-up
                    run_bare()
                    run_boxed()
                for _ in range(args.runs):
                    for name, (run_bare, run_boxed) in cases.items():
                        times[name][0].append(timed(run_bare))
                        times[name][1].append(timed(run_boxed))
    finally:
        warm.close()
        cold.close()
    print(f"\n{args.runs} runs each, interleaved; wall ms as seen by the caller\n")
    print("| command | bare median | bare p95 | sandboxed median | sandboxed p95 | overhead |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (b, s) in times.items():
        bm, sm = statistics.median(b) * 1e3, statistics.median(s) * 1e3
        print(f"| {name} | {bm:.1f} | {pct(b, .95) * 1e3:.1f} | {sm:.1f} | "
              f"{pct(s, .95) * 1e3:.1f} | {sm - bm:+.1f} |")


if __name__ == "__main__":
    main()
