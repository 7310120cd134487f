"""Load: post N submissions at a given rate, wait until every one is final, and account for
each: accepted, finished, lost, duplicated, errors, and latency percentiles.

    python bench/load.py [--count 10000] [--rate 200] [--clients 16] [--url URL]

Without --url it starts its own API and one worker per CPU (MAX_QUEUE_SIZE raised so the
backlog is accepted). The programs are Bash one-liners echoing their index, each with an
expected output, so a submission judged with someone else's output would show as wrong.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import start_engine, stop_engine  # noqa: E402
from bench.stats import pct  # noqa: E402

FINAL_FIELDS = "token,status,stdout,created_at,finished_at"



class Poster:
    """Posts at a fixed rate from a pool of client threads."""

    def __init__(self, url: str, rate: float, clients: int):
        self.url, self.rate, self.clients = url, rate, clients
        self.local = threading.local()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "http"):
            self.local.http = requests.Session()
        return self.local.http

    def post(self, i: int, start: float) -> str | None:
        time.sleep(max(0.0, start + i / self.rate - time.monotonic()))
        began = time.monotonic()
        try:
            resp = self.session().post(f"{self.url}/submissions", timeout=30, json={
                "source_code": f"echo {i}", "language_id": 46, "expected_output": str(i)})
        except requests.RequestException as e:
            with self.lock:
                self.errors[type(e).__name__] += 1
            return None
        with self.lock:
            self.latencies.append(time.monotonic() - began)
            if resp.status_code != 201:
                self.errors[f"HTTP {resp.status_code}"] += 1
                return None
        return resp.json()["token"]

    def run(self, count: int) -> list[str | None]:
        start = time.monotonic()
        with ThreadPoolExecutor(self.clients) as pool:
            return list(pool.map(lambda i: self.post(i, start), range(count)))


def collect(url: str, tokens: list[str], timeout: float) -> dict[str, dict]:
    """Poll every unfinished token (one GET each) until all are final or `timeout` passes."""
    http = requests.Session()
    final: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    pending = list(tokens)
    while pending and time.monotonic() < deadline:
        still = []
        for token in pending:
            body = http.get(f"{url}/submissions/{token}", params={"fields": FINAL_FIELDS},
                            timeout=30).json()
            if body["status"]["id"] > 2:
                final[token] = body
            else:
                still.append(token)
        pending = still
        if pending:
            time.sleep(1)
    return final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0, help="submissions per second")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--url")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for verdicts")
    args = parser.parse_args()
    procs = []
    url = args.url
    if url is None:
        url, procs = start_engine(workers=os.cpu_count() or 1)
    try:
        poster = Poster(url, args.rate, args.clients)
        began = time.monotonic()
        results = poster.run(args.count)
        posted = time.monotonic() - began
        tokens = [t for t in results if t]
        final = collect(url, tokens, args.timeout)
        drained = time.monotonic() - began
    finally:
        stop_engine(procs)
    duplicated = len(tokens) - len(set(tokens))
    statuses = Counter(body["status"]["description"] for body in final.values())
    wrong = [t for t, body in final.items() if body["status"]["id"] != 3]
    print(f"\n{args.count} submissions at {args.rate:g}/s from {args.clients} clients\n")
    print("| accepted (201) | finished | lost | duplicated | errors | not Accepted |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(tokens)} | {len(final)} | {len(tokens) - len(final)} | {duplicated} | "
          f"{sum(poster.errors.values())} {dict(poster.errors) or ''} | {len(wrong)} |")
    lat = poster.latencies
    print(f"\nPOST latency ms: median {statistics.median(lat) * 1e3:.1f}, p95 "
          f"{pct(lat, .95) * 1e3:.1f}, p99 {pct(lat, .99) * 1e3:.1f}, max {max(lat) * 1e3:.1f}")
    print(f"posting took {posted:.1f} s ({len(tokens) / posted:.0f}/s); all verdicts after "
          f"{drained:.1f} s ({len(final) / drained:.0f} judged/s); statuses: {dict(statuses)}")


if __name__ == "__main__":
    main()
