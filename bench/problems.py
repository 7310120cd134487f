"""Problems: the cost of a test case over running the same binary bare, the API's memory
while a 1,000-case zip is uploaded, a 100 MB test set crossing to a worker once, and the
same data in two problems stored once; in one run.

    python bench/problems.py [--rounds 5] [--big-mb 100]

- per case: a C++ program summing its input, on a problem of 1 case and one of 100 (each
  submission a new source, so each compiles once: the difference of the two is 99 cases);
  bare: the same binary compiled by g++ once, run 100 times by posix_spawn, its stdin a file.
- upload: the API processes' peak resident memory (VmHWM) before and after a 1,000-case
  zip (10 KB per case) goes in.
- transfer: a problem of `--big-mb` MB (10 cases), judged twice by one worker whose test
  data cache starts empty: the first fetches the data from PostgreSQL, the second finds it.
- dedup: a second problem with the same test data; the growth of the blobs table.

The engine gets its own schema and Redis database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import psycopg
import redis
import requests
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import api_workers, start_engine, stop_engine  # noqa: E402
from judge.config import Config  # noqa: E402
from judge.store.submissions import Storage  # noqa: E402

SCHEMA = "bench_problems"
REDIS_URL = "redis://127.0.0.1:6379/3"
AUTHZ = {"X-Auth-User": "bench"}
CPP = 54
SUM_CPP = ("#include <cstdio>\nint main(){long long s=0,x;while(scanf(\"%lld\",&x)==1)s+=x;"
           "printf(\"%lld\\n\",s);}\n")
COUNT_CPP = ("#include <cstdio>\nint main(){static char b[1<<16];long long n=0;size_t r;"
             "while((r=fread(b,1,sizeof b,stdin))>0)n+=r;printf(\"%lld\\n\",n);}\n")


def case(i: int) -> tuple[str, str]:
    numbers = [i, i + 1, i + 2]
    return " ".join(map(str, numbers)) + "\n", f"{sum(numbers)}\n"


def create_inline(url: str, slug: str, pairs: list[tuple[str, str]]) -> None:
    resp = requests.post(f"{url}/problems", headers=AUTHZ, timeout=600, json={
        "slug": slug, "title": slug, "checker": {"type": "tokens"},
        "test_cases": [{"stdin": i, "expected_output": o} for i, o in pairs]})
    resp.raise_for_status()


def create_zip(url: str, slug: str, archive: Path) -> None:
    with archive.open("rb") as tests:
        resp = requests.post(f"{url}/problems", headers=AUTHZ, timeout=1200, files={
            "problem": (None, json.dumps({"slug": slug, "title": slug,
                                          "checker": {"type": "tokens"}}), "application/json"),
            "tests": ("tests.zip", tests, "application/zip")})
    resp.raise_for_status()


def judged_seconds(url: str, slug: str, source: str) -> float:
    started = time.perf_counter()
    resp = requests.post(f"{url}/submissions", params={"wait": "true", "fields":
                                                       "status,total_test_cases,passed_test_cases"},
                         json={"source_code": source, "language_id": CPP, "problem": slug},
                         timeout=600)
    took = time.perf_counter() - started
    body = resp.json()
    if resp.status_code != 201 or body["status"]["id"] != 3:
        raise SystemExit(f"{slug}: {resp.status_code} {body}")
    return took


def bare_per_run(inputs: list[bytes], source: str) -> float:
    """Seconds per run of the g++-compiled binary, posix_spawn'ed with its stdin a file."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "main.cpp").write_text(source)
        subprocess.run(["g++", "-O2", "-o", f"{tmp}/a.out", f"{tmp}/main.cpp"], check=True)
        files = []
        for n, data in enumerate(inputs):
            Path(tmp, f"{n}.in").write_bytes(data)
            files.append(f"{tmp}/{n}.in")
        argv = [f"{tmp}/a.out"]
        started = time.perf_counter()
        for name in files:
            actions = [(os.POSIX_SPAWN_OPEN, 0, name, os.O_RDONLY, 0),
                       (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
            pid = os.posix_spawn(argv[0], argv, {}, file_actions=actions)
            os.waitpid(pid, 0)
        return (time.perf_counter() - started) / len(files)


def hwm_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total


def zip_of(count: int, size: int, path: Path) -> None:
    line = b"7 " * (size // 2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(1, count + 1):
            data = line + str(i).encode() + b"\n"
            archive.writestr(f"{i}.in", data)
            archive.writestr(f"{i}.out", f"{len(data)}\n")


def blobs(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        count, size = conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM blobs").fetchone()
        return count, int(size)  # sum() of bigints is a numeric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big-mb", type=int, default=100)
    args = parser.parse_args()
    base_url = Config.load().database_url
    database_url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{SCHEMA}"
    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    with Storage(database_url, max_size=1) as storage:
        storage.migrate()
    flush = redis.Redis.from_url(REDIS_URL)
    flush.flushdb()
    boxes = Path("/var/lib/judge/bench-problems-boxes")
    env = {"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "AUTHZ_TOKEN": "bench",
           "SANDBOX_BOXES_DIR": str(boxes), "MAX_REQUEST_BODY_SIZE": str(64 << 20),
           "PROBLEM_MAX_SIZE": str(2 * args.big_mb * 1024 + 65536), "COMPILE_CACHE_SIZE": "0"}
    url, procs = start_engine(1, env)
    results = {}
    try:
        pairs = [case(i) for i in range(100)]
        create_inline(url, "one", pairs[:1])
        create_inline(url, "hundred", pairs)
        for slug in ("one", "hundred"):  # warm-up
            judged_seconds(url, slug, SUM_CPP + f"// {uuid.uuid4()}\n")
        one, hundred = [], []
        for _ in range(args.rounds):
            one.append(judged_seconds(url, "one", SUM_CPP + f"// {uuid.uuid4()}\n"))
            hundred.append(judged_seconds(url, "hundred", SUM_CPP + f"// {uuid.uuid4()}\n"))
        bare = [bare_per_run([i.encode() for i, _ in pairs], SUM_CPP) for _ in range(args.rounds)]
        results["case"] = (one, hundred, bare)

        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp, "thousand.zip")
            zip_of(1000, 10_000, archive)
            pids = api_workers(procs)
            before = hwm_kb(pids)
            started = time.perf_counter()
            create_zip(url, "thousand", archive)
            results["upload"] = (before, hwm_kb(pids), time.perf_counter() - started,
                                 archive.stat().st_size)

            big = Path(tmp, "big.zip")
            zip_of(10, args.big_mb * 100_000, big)
            create_zip(url, "big", big)
            shutil.rmtree(boxes / "test-data", ignore_errors=True)  # an empty worker cache
            first = judged_seconds(url, "big", COUNT_CPP)
            second = judged_seconds(url, "big", COUNT_CPP + "// again\n")
            results["transfer"] = (first, second)
            count, size = blobs(database_url)
            create_zip(url, "big-again", big)
            results["dedup"] = (count, size, *blobs(database_url))
    finally:
        stop_engine(procs)
        flush.flushdb()
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(drop)
        shutil.rmtree(boxes / "test-data", ignore_errors=True)
    report(results, args)


def report(results: dict, args: argparse.Namespace) -> None:
    one, hundred, bare = results["case"]
    per_case = [(h - o) / 99 * 1000 for o, h in zip(one, hundred, strict=True)]
    bare_ms = [b * 1000 for b in bare]
    print(f"\n{os.cpu_count()} CPUs; {args.rounds} rounds; one worker\n")
    print("| | median | rounds |")
    print("|---|---:|---|")
    print(f"| 1-case problem, wait=true (s) | {statistics.median(one):.3f} | "
          f"{', '.join(f'{v:.3f}' for v in one)} |")
    print(f"| 100-case problem, wait=true (s) | {statistics.median(hundred):.3f} | "
          f"{', '.join(f'{v:.3f}' for v in hundred)} |")
    print(f"| per case, judged (ms) | {statistics.median(per_case):.2f} | "
          f"{', '.join(f'{v:.2f}' for v in per_case)} |")
    print(f"| per run, bare (ms) | {statistics.median(bare_ms):.2f} | "
          f"{', '.join(f'{v:.2f}' for v in bare_ms)} |")
    print(f"| **overhead per case (ms)** | "
          f"**{statistics.median(per_case) - statistics.median(bare_ms):.2f}** | |")
    before, after, took, size = results["upload"]
    print(f"\n1,000-case zip ({size / 1e6:.1f} MB compressed, 10 MB of tests): uploaded in "
          f"{took:.1f} s; the API processes' peak memory {before / 1024:.1f} MB before, "
          f"{after / 1024:.1f} MB after (+{(after - before) / 1024:.1f} MB)")
    first, second = results["transfer"]
    print(f"\n{args.big_mb} MB test set: first submission {first:.2f} s (fetched into the "
          f"worker's cache), second {second:.2f} s: transfer ≈ {first - second:.2f} s, "
          "paid once")
    count, size, count2, size2 = results["dedup"]
    print(f"\nthe same set in a second problem: blobs {count} ({size / 1e6:.1f} MB) → "
          f"{count2} ({size2 / 1e6:.1f} MB): +{(size2 - size) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
