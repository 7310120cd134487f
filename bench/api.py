"""Accepting submissions: `POST /submissions` per second with the workers idle, measured by wrk
from a second process, next to the same server's `GET /statuses` (no database, no queue: the
ceiling of the HTTP stack on this machine) in one run.

    python bench/api.py [--seconds 20] [--connections 32]

The engine gets its own schema in the database and its own Redis database, both dropped
afterwards, and no workers (submissions stay queued). Every 201 is checked against the rows
in the database: a submission the API acknowledged but did not store would show as lost.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import redis
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import start_engine, stop_engine  # noqa: E402
from judge.config import Config  # noqa: E402
from judge.store.submissions import Storage  # noqa: E402

SCHEMA = "bench_api"
REDIS_URL = "redis://127.0.0.1:6379/11"
POST_LUA = """
wrk.method = "POST"
wrk.body = '{"source_code": "print(input())", "language_id": 71, "stdin": "hello"}'
wrk.headers["Content-Type"] = "application/json"
"""


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict:
    argv = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            argv += ["-s", lua.name]
        out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": requests, "failed": int(failed.group(1)) if failed else 0,
            "errors": errors.group(1) if errors else "none",
            "p50": ms("50%"), "p99": ms("99%")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make bench` installs it (deps/bench.txt)")
    base_url = Config.load().database_url
    joiner = "&" if "?" in base_url else "?"
    database_url = f"{base_url}{joiner}options=-csearch_path%3D{SCHEMA}"
    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    with Storage(database_url, max_size=1) as storage:
        storage.migrate()
    queue = redis.Redis.from_url(REDIS_URL)
    queue.flushdb()
    url, procs = start_engine(0, {"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
                                  "MAX_QUEUE_SIZE": "10000000"})
    try:
        wrk(f"{url}/statuses", 2, args.connections)  # warm-up: connections, pools, caches
        bare = wrk(f"{url}/statuses", args.seconds, args.connections)
        post = wrk(f"{url}/submissions", args.seconds, args.connections, POST_LUA)
        with psycopg.connect(database_url) as conn:
            stored = conn.execute("SELECT count(*) FROM submissions").fetchone()[0]
    finally:
        stop_engine(procs)
        queue.flushdb()
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(drop)
    print(f"\nwrk, {args.connections} connections, {args.seconds} s each, "
          f"{os.cpu_count()} CPUs shared by wrk, gunicorn, PostgreSQL and Redis\n")
    print("| request | requests/s | p50 ms | p99 ms | non-2xx | socket errors |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in (("GET /statuses (HTTP stack only)", bare),
                    ("POST /submissions (stored + queued)", post)):
        print(f"| {name} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['failed']} | "
              f"{r['errors']} |")
    accepted = post["requests"] - post["failed"]
    print(f"\n{accepted} submissions acknowledged, {stored} stored"
          f"{'' if stored >= accepted else f': {accepted - stored} LOST'}")


if __name__ == "__main__":
    main()
