"""Throughput: judged Python 3 hello worlds per second (async POSTs, then every one final)
against bare runs of the same program on the same cores (one process per CPU at a time), in
one run.

    python bench/throughput.py [--count 400] [--rounds 5] [--program hello|compute]

Two bare sides: the leanest runner this machine has (posix_spawn of the interpreter itself,
its stdin a file, one per CPU in flight: what `xargs -P` does, without a shell), and the
language's run command through bash from a thread pool (what the sandbox runs). The judged
share is given against both; the lean one is the honest figure. `--program compute` runs a
program that computes for about 100 ms instead of hello world.

The engine runs one worker per CPU. Judged throughput counts from the first POST to the last
submission's finished_at, so posting, queueing, judging and storing are all inside it. Bare
and judged batches alternate, and each judged batch is compared with the bare batch just
before it (the median of those shares is the figure): the machine's speed drifts (by 30 %
within minutes here), and a drift hits both batches of a round alike. The engine's idle
workers stay up during the bare batches, as an idle engine would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import api_workers, start_engine, stop_engine  # noqa: E402
from judge.contract.languages import LanguageCatalog  # noqa: E402
from judge.sandbox.bwrap import BASE_ENV  # noqa: E402

PROGRAMS = {
    "hello": 'print("hello, " + input())',
    # about 100 ms of CPU on this machine, then the same greeting
    "compute": 'n = 0\nfor i in range(2_500_000):\n    n += i & 7\nprint("hello, " + input())',
}


def lean(count: int, cpus: int, source: str) -> tuple[float, float]:
    """Runs per second, and CPU seconds per run (rusage of the children), of the program
    spawned directly with posix_spawn, `cpus` at a time, stdin from a file, stdout to
    /dev/null: the least a runner can do for the same work."""
    with tempfile.TemporaryDirectory() as tmp:
        script, stdin = Path(tmp, "script.py"), Path(tmp, "stdin")
        script.write_text(source)
        stdin.write_text("world")
        argv = ["/usr/bin/python3", str(script)]
        actions = [(os.POSIX_SPAWN_OPEN, 0, str(stdin), os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
        env = dict(BASE_ENV)
        cpu, running, started = 0.0, 0, 0
        start = time.perf_counter()
        while started < count or running:
            while running < cpus and started < count:
                os.posix_spawn(argv[0], argv, env, file_actions=actions)
                running, started = running + 1, started + 1
            _, status, usage = os.wait4(-1, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            cpu += usage.ru_utime + usage.ru_stime
            running -= 1
        return count / (time.perf_counter() - start), cpu / count


def bare(count: int, cpus: int, source: str) -> float:
    """Runs per second of the program with its stdin, `cpus` at a time, started the way the
    sandbox starts it: the language's run command (languages.yml) through bash."""
    command = LanguageCatalog.load().get(71).run_command("", {})
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "script.py").write_text(source)

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


def _cpu(pid: int, reaped: bool = True) -> float:
    """CPU seconds of a process, and (with `reaped`) of the children it has reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15 if reaped else 13]) / TICK


def _tree(pid: int) -> list[int]:
    """A process and its live descendants."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid] + [p for child in children for p in _tree(int(child))]


def _worker_cpu(pid: int) -> float:
    """A worker's own CPU and that of its bwrap and zygote processes, but not what they
    reaped: a warm session (zygote.py) that ends after its 500 submissions hands the CPU of
    every run it reaped to the worker, and the runs are counted from their cgroups."""
    return sum(_cpu(p, reaped=False) for p in _tree(pid))


def _pids(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_by_part(procs: list[subprocess.Popen]) -> dict[str, float]:
    """Where the CPU goes: the API (gunicorn), the workers (with their bwrap and zygote
    processes), PostgreSQL, Redis, and the sandboxed programs (their cgroups)."""
    api = [procs[0].pid, *api_workers(procs)]
    parts = {"API (gunicorn)": sum(map(_cpu, api)),
             "workers (Python, bwrap, zygote)": sum(_worker_cpu(p.pid) for p in procs[1:]),
             "PostgreSQL": sum(map(_cpu, _pids("postgres"))),
             "Redis": sum(map(_cpu, _pids("redis-server")))}
    if SANDBOX_CPU.exists():
        parts["sandboxed programs"] = int(SANDBOX_CPU.read_text()) / 1e9
    return parts


POSTERS = 8  # client threads posting at once


def body_of(source: str) -> bytes:
    return json.dumps({"source_code": source, "language_id": 71, "stdin": "world",
                       "expected_output": "hello, world"}).encode()


def _shares(count: int, parts: int) -> list[int]:
    return [count // parts + (i < count % parts) for i in range(parts)]


def post(url: str, count: int, body: bytes) -> list[str]:
    """`count` POSTs on one keep-alive connection; their tokens. Plain http.client: the
    client shares the CPUs with the engine, and requests costs several times as much CPU
    per request."""
    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=30)
    try:
        tokens = []
        for _ in range(count):
            conn.request("POST", "/submissions", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status != 201:
                raise SystemExit(f"POST /submissions answered {resp.status}: {answer!r}")
            tokens.append(json.loads(answer)["token"])
        return tokens
    finally:
        conn.close()


def judged(url: str, count: int, body: bytes) -> tuple[float, int]:
    """Submissions per second from the first POST to the last finished_at; and how many did
    not end Accepted with the right output."""
    session = requests.Session()
    started = dt.datetime.now(dt.UTC)
    with ThreadPoolExecutor(POSTERS) as pool:
        tokens = [token for batch in pool.map(lambda n: post(url, n, body),
                                              _shares(count, POSTERS))
                  for token in batch]
    pending, finished = set(tokens), []
    while pending:
        time.sleep(0.2)
        chunk = sorted(pending)[:20]  # MAX_SUBMISSION_BATCH_SIZE
        resp = session.get(f"{url}/submissions/batch", timeout=30, params={
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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--program", choices=sorted(PROGRAMS), default="hello")
    args = parser.parse_args()
    source, cpus = PROGRAMS[args.program], os.cpu_count() or 1
    body = body_of(source)
    url, procs = start_engine(cpus, {"MAX_QUEUE_SIZE": str(args.count * 2)})
    lean_rates, lean_cpu, bash_rates, rates, wrong = [], [], [], [], 0
    try:
        lean(20, cpus, source)  # warm-up: page cache
        judged(url, 20, body)  # warm-up: pools, caches, the warm sandboxes
        before = cpu_by_part(procs)
        for _ in range(args.rounds):  # interleaved: background noise hits all alike
            rate, cpu = lean(args.count, cpus, source)
            lean_rates.append(rate)
            lean_cpu.append(cpu)
            bash_rates.append(bare(args.count, cpus, source))
            rate, failed = judged(url, args.count, body)
            rates.append(rate)
            wrong += failed
        after = cpu_by_part(procs)
    finally:
        stop_engine(procs)
    report(args, cpus, lean_rates, lean_cpu, bash_rates, rates,
           {part: after[part] - before[part] for part in after})
    if wrong:
        print(f"\n{wrong} submissions did not end Accepted")


def _row(name: str, values: list[float], fmt: str = "{:.1f}") -> str:
    return (f"| {name} | {fmt.format(statistics.median(values))} | "
            f"{', '.join(fmt.format(v) for v in values)} |")


def report(args: argparse.Namespace, cpus: int, lean_rates: list[float],
           lean_cpu: list[float], bash_rates: list[float], rates: list[float],
           used: dict[str, float]) -> None:
    print(f"\n{args.count} runs of Python 3 `{args.program}`, {cpus} CPUs, {args.rounds} "
          "rounds (lean bare, bare through bash, then judged)\n")
    print("| | median per second | rounds |")
    print("|---|---:|---|")
    print(_row(f"bare, lean (posix_spawn, {cpus} at a time)", lean_rates))
    print(_row(f"bare, through bash from a thread pool ({cpus} at a time)", bash_rates))
    print(_row(f"judged, {cpus} workers (async POST to last verdict)", rates))
    vs_lean = [ours / theirs for ours, theirs in zip(rates, lean_rates, strict=True)]
    vs_bash = [ours / theirs for ours, theirs in zip(rates, bash_rates, strict=True)]
    print(_row("judged as a share of the same round's lean bare", vs_lean, "{:.0%}"))
    print(_row("judged as a share of the same round's bare through bash", vs_bash, "{:.0%}"))
    judged_count = args.count * args.rounds
    print("\nCPU per judged submission (ms), by part:\n")
    print("| part | ms |")
    print("|---|---:|")
    for part, seconds in used.items():
        print(f"| {part} | {seconds / judged_count * 1e3:.2f} |")
    engine = sum(seconds for part, seconds in used.items() if part != "sandboxed programs")
    print(f"| engine (all but the sandboxed programs) | {engine / judged_count * 1e3:.2f} |")
    print(f"| the program run bare (lean, rusage) | {statistics.median(lean_cpu) * 1e3:.2f} |")


if __name__ == "__main__":
    main()
