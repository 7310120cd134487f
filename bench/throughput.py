"""Throughput: judged Python 3 hello worlds per second (async POSTs, then every one final)
against bare runs of the same program on the same cores (one process per CPU at a time), in
one run.

    python bench/throughput.py [--count 400]

The engine runs one worker per CPU. Judged throughput counts from the first POST to the last
submission's finished_at, so posting, queueing, judging and storing are all inside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import api_workers, start_engine, stop_engine  # noqa: E402
from judge.languages import LanguageCatalog  # noqa: E402
from judge.sandbox.bwrap import BASE_ENV  # noqa: E402

SOURCE = 'print("hello, " + input())'


def bare(count: int, cpus: int) -> float:
    """Runs per second of the program with its stdin, `cpus` at a time, started the way the
    sandbox starts it: the language's run command (languages.yml) through bash."""
    command = LanguageCatalog.load().get(71).run_command("", {})
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "script.py").write_text(SOURCE)

        def one(_: int) -> None:
            out = subprocess.run(["/bin/bash", "-c", command], cwd=tmp, input=b"world",
                                 capture_output=True, check=True, env=dict(BASE_ENV))
            assert out.stdout == b"hello, world\n"

        start = time.perf_counter()
        with ThreadPoolExecutor(cpus) as pool:
            list(pool.map(one, range(count)))
        return count / (time.perf_counter() - start)


TICK = os.sysconf("SC_CLK_TCK")
SANDBOX_CPU = Path("/sys/fs/cgroup/cpuacct/judge/cpuacct.usage")  # every run's cgroup (v1)


def _cpu(pid: int) -> float:
    """CPU seconds of a process and of its children it has reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICK


def _pids(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_by_part(procs: list[subprocess.Popen]) -> dict[str, float]:
    """Where the CPU goes: the API (gunicorn), the workers (with the bwrap and zygote
    processes they reap), PostgreSQL, Redis, and the sandboxed programs (their cgroups)."""
    api = [procs[0].pid, *api_workers(procs)]
    parts = {"API (gunicorn)": sum(map(_cpu, api)),
             "workers (Python, bwrap, zygote)": sum(_cpu(p.pid) for p in procs[1:]),
             "PostgreSQL": sum(map(_cpu, _pids("postgres"))),
             "Redis": sum(map(_cpu, _pids("redis-server")))}
    if SANDBOX_CPU.exists():
        parts["sandboxed programs"] = int(SANDBOX_CPU.read_text()) / 1e9
    return parts


def judged(url: str, count: int) -> tuple[float, int]:
    """Submissions per second from the first POST to the last finished_at; and how many did
    not end Accepted with the right output."""
    http = requests.Session()
    body = {"source_code": SOURCE, "language_id": 71, "stdin": "world",
            "expected_output": "hello, world"}
    started = dt.datetime.now(dt.UTC)
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(
            lambda _: http.post(f"{url}/submissions", json=body, timeout=30).json()["token"],
            range(count)))
    pending, finished = set(tokens), []
    while pending:
        time.sleep(0.2)
        chunk = sorted(pending)[:20]  # MAX_SUBMISSION_BATCH_SIZE
        resp = http.get(f"{url}/submissions/batch", timeout=30, params={
            "tokens": ",".join(chunk), "fields": "token,status,finished_at"})
        for sub in resp.json()["submissions"]:
            if sub["status"]["id"] > 2:
                pending.discard(sub["token"])
                finished.append(sub)
    last = max(dt.datetime.fromisoformat(s["finished_at"].replace("Z", "+00:00"))
               for s in finished)
    wrong = sum(1 for s in finished if s["status"]["id"] != 3)
    return count / (last - started).total_seconds(), wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    bare(20, cpus)  # warm-up
    bare_rate = bare(args.count, cpus)
    url, procs = start_engine(cpus, {"MAX_QUEUE_SIZE": str(args.count * 2)})
    try:
        judged(url, 20)  # warm-up: pools, caches, the language self-test
        before = cpu_by_part(procs)
        rate, wrong = judged(url, args.count)
        after = cpu_by_part(procs)
    finally:
        stop_engine(procs)
    print(f"\n{args.count} Python 3 hello worlds, {cpus} CPUs\n")
    print("| | per second | share of bare |")
    print("|---|---:|---:|")
    print(f"| bare, {cpus} at a time | {bare_rate:.1f} | 100% |")
    print(f"| judged, {cpus} workers (async POST to last verdict) | {rate:.1f} | "
          f"{rate / bare_rate:.0%} |")
    print("\nCPU per judged submission (ms), by part:\n")
    print("| part | ms |")
    print("|---|---:|")
    for part, seconds in after.items():
        print(f"| {part} | {(seconds - before[part]) / args.count * 1e3:.1f} |")
    print(f"| bare run, for comparison | {cpus / bare_rate * 1e3:.1f} |")
    if wrong:
        print(f"\n{wrong} submissions did not end Accepted")


if __name__ == "__main__":
    main()
