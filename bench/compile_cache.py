"""Compile cache: C++ hello world judged with the cache cold (every source new: compile and
store), warm (the same source: restore the stored artifact) and disabled (COMPILE_CACHE_SIZE=0:
compile every time), against g++ compile + run bare on this machine, interleaved in one run;
then a batch of 20 identical sources with different stdin, cache on vs off.

    python bench/compile_cache.py [--runs 30]

It starts two engines (one worker each, so both see the same single-worker latency): one with
the cache on REDIS_URL (default redis://127.0.0.1:6379/11), one without on database 4 of the
same Redis server (--off-redis-db), both flushed; DATABASE_URL defaults to the local judge
database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e import PROGRAMS, bare  # noqa: E402
from bench.engine import start_engine, stop_engine  # noqa: E402
from bench.stats import pct  # noqa: E402
from judge.contract.languages import LanguageCatalog  # noqa: E402
from judge.judging.compile_cache import COMPILATIONS, HITS  # noqa: E402

CPP = 54
BATCH = 20


class Engine:
    """A started engine: its URL, its Redis (for the compile counters), its processes."""

    def __init__(self, redis_url: str, env: dict[str, str]):
        self.redis = redis.Redis.from_url(redis_url)
        self.redis.flushdb()
        self.url, self.procs = start_engine(1, {"REDIS_URL": redis_url, **env})
        self.http = requests.Session()

    def judge(self, source: str, stdin: str = "world") -> float:
        start = time.perf_counter()
        resp = self.http.post(f"{self.url}/submissions", params={"wait": "true"}, timeout=60,
                              json={"source_code": source, "language_id": CPP, "stdin": stdin})
        elapsed = time.perf_counter() - start
        body = resp.json()
        assert body["status"]["id"] == 3 and body["stdout"] == f"hello, {stdin}\n", body
        return elapsed

    def batch(self, source: str) -> float:
        items = [{"source_code": source, "language_id": CPP, "stdin": f"n{i}"}
                 for i in range(BATCH)]
        start = time.perf_counter()
        resp = self.http.post(f"{self.url}/submissions/batch", params={"wait": "true"},
                              json={"submissions": items}, timeout=120)
        elapsed = time.perf_counter() - start
        outputs = [item["stdout"] for item in resp.json()]
        assert outputs == [f"hello, n{i}\n" for i in range(BATCH)], resp.text
        return elapsed

    def counters(self) -> tuple[int, int]:
        return int(self.redis.get(COMPILATIONS) or 0), int(self.redis.get(HITS) or 0)

    def stop(self) -> None:
        stop_engine(self.procs)
        self.redis.flushdb()
        self.redis.close()


def with_db(url: str, db: int) -> str:
    return urlparse(url)._replace(path=f"/{db}").geturl()


def fresh_source() -> str:
    return f"// {uuid.uuid4()}\n{PROGRAMS[CPP]}"


def row(name: str, times: list[float]) -> str:
    return f"| {name} | {statistics.median(times) * 1e3:.1f} | {pct(times, .95) * 1e3:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--off-redis-db", type=int, default=4)
    args = parser.parse_args()
    base_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/11")
    engines: list[Engine] = []
    try:
        cached = Engine(base_url, {})
        engines.append(cached)
        uncached = Engine(with_db(base_url, args.off_redis_db), {"COMPILE_CACHE_SIZE": "0"})
        engines.append(uncached)
        language = LanguageCatalog.load().get(CPP)
        warm_source = fresh_source()
        bare(language), cached.judge(warm_source), uncached.judge(warm_source)  # warm-ups
        start_cached, start_uncached = cached.counters(), uncached.counters()
        times: dict[str, list[float]] = {"bare": [], "cold": [], "warm": [], "off": []}
        for i in range(args.runs):
            times["bare"].append(bare(language))
            times["cold"].append(cached.judge(fresh_source(), f"c{i}"))
            times["warm"].append(cached.judge(warm_source, f"w{i}"))
            times["off"].append(uncached.judge(warm_source, f"o{i}"))
        batch_on = cached.batch(fresh_source())
        batch_off = uncached.batch(fresh_source())
        on = [a - b for a, b in zip(cached.counters(), start_cached, strict=True)]
        off = [a - b for a, b in zip(uncached.counters(), start_uncached, strict=True)]
    finally:
        for engine in engines:
            engine.stop()
    print(f"\n{language.name}, hello world with stdin; {args.runs} runs each, interleaved, one "
          f"worker per engine; milliseconds\n")
    print("| C++ hello | median | p95 |")
    print("|---|---:|---:|")
    print(row("bare g++ compile + run (reference)", times["bare"]))
    print(row("cache cold (new source: compile + store)", times["cold"]))
    print(row("cache warm (same source: restore)", times["warm"]))
    print(row("cache disabled (COMPILE_CACHE_SIZE=0)", times["off"]))
    print(f"\nThe whole run, batches included: cache on {on[0]} compilations, {on[1]} hits; "
          f"cache off {off[0]} compilations, {off[1]} hits.\n")
    print(f"| batch of {BATCH} identical sources, different stdin (wait=true) | seconds |")
    print("|---|---:|")
    print(f"| cache on | {batch_on:.2f} |")
    print(f"| cache off | {batch_off:.2f} |")


if __name__ == "__main__":
    main()
