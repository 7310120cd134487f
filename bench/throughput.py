"""Throughput: judged Python 3 hello worlds per second (async POSTs, then every one final)
against bare runs of the same program on the same cores (one process per CPU at a time), in
one run.

    python bench/throughput.py [--count 400] [--rounds 5]

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
BODY = json.dumps({"source_code": SOURCE, "language_id": 71, "stdin": "world",
                   "expected_output": "hello, world"}).encode()


def _shares(count: int, parts: int) -> list[int]:
    return [count // parts + (i < count % parts) for i in range(parts)]


def post(url: str, count: int) -> list[str]:
    """`count` POSTs on one keep-alive connection; their tokens. Plain http.client: the
    client shares the CPUs with the engine, and requests costs several times as much CPU
    per request."""
    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=30)
    try:
        tokens = []
        for _ in range(count):
            conn.request("POST", "/submissions", BODY, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status != 201:
                raise SystemExit(f"POST /submissions answered {resp.status}: {answer!r}")
            tokens.append(json.loads(answer)["token"])
        return tokens
    finally:
        conn.close()


def judged(url: str, count: int) -> tuple[float, int]:
    """Submissions per second from the first POST to the last finished_at; and how many did
    not end Accepted with the right output."""
    session = requests.Session()
    started = dt.datetime.now(dt.UTC)
    with ThreadPoolExecutor(POSTERS) as pool:
        tokens = [token for batch in pool.map(lambda n: post(url, n), _shares(count, POSTERS))
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
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    url, procs = start_engine(cpus, {"MAX_QUEUE_SIZE": str(args.count * 2)})
    bare_rates, rates, wrong = [], [], 0
    try:
        bare(20, cpus)  # warm-up: page cache
        judged(url, 20)  # warm-up: pools, caches, the warm sandboxes
        before = cpu_by_part(procs)
        for _ in range(args.rounds):  # interleaved: background noise hits both alike
            bare_rates.append(bare(args.count, cpus))
            rate, failed = judged(url, args.count)
            rates.append(rate)
            wrong += failed
        after = cpu_by_part(procs)
    finally:
        stop_engine(procs)
    bare_rate, rate = statistics.median(bare_rates), statistics.median(rates)
    shares = [ours / theirs for ours, theirs in zip(rates, bare_rates, strict=True)]
    print(f"\n{args.count} Python 3 hello worlds, {cpus} CPUs, {args.rounds} rounds (a bare batch, "
          "then a judged one)\n")
    print("| | median per second | rounds |")
    print("|---|---:|---|")
    print(f"| bare, {cpus} at a time | {bare_rate:.1f} | "
          f"{', '.join(f'{r:.1f}' for r in bare_rates)} |")
    print(f"| judged, {cpus} workers (async POST to last verdict) | {rate:.1f} | "
          f"{', '.join(f'{r:.1f}' for r in rates)} |")
    print(f"| judged as a share of the same round's bare | **{statistics.median(shares):.0%}** | "
          f"{', '.join(f'{r:.0%}' for r in shares)} |")
    judged_count = args.count * args.rounds
    print("\nCPU per judged submission (ms), by part:\n")
    print("| part | ms |")
    print("|---|---:|")
    for part, seconds in after.items():
        print(f"| {part} | {(seconds - before[part]) / judged_count * 1e3:.1f} |")
    print(f"| bare run, for comparison | {cpus / bare_rate * 1e3:.1f} |")
    if wrong:
        print(f"\n{wrong} submissions did not end Accepted")


if __name__ == "__main__":
    main()
