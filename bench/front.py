"""The API no client can stall: the engine's API under floods of waiting, slow and listening
clients, next to a bare ASGI app (bench/bare_asgi.py) under the same gunicorn and uvicorn, in
one run.

    python bench/front.py [--waiting 10000] [--slow 500] [--listeners 1000] [--seconds 10]

Rows (medians and p99 of `GET /statuses` from four keep-alive connections while the flood is
held; memory = growth of the API processes' resident set over the held clients):

- idle: nothing else;
- waiting: `--waiting` clients each holding `POST /submissions?wait=true` (the engine has no
  workers, so they wait) / `GET /hold` (bare);
- slow bodies: `--slow` clients sending a 1,000-byte body a byte every 2 s, measured before
  the engine's body rule answers them 408;
- live events: `--listeners` SSE streams, each submission's verdict stored (as a worker
  does: the row, then the final event) by another process; the delay from stored to the
  event read by its client (bare: from the moment the app was told to send it);
- accepting: `POST /submissions` per second (wrk, 32 connections; bench/api.py's wrk).

The engine gets its own schema and Redis database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
import redis
import uvloop
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api import POST_LUA, wrk  # noqa: E402
from bench.engine import (  # noqa: E402
    api_workers,
    free_port,
    start_engine,
    stop_engine,
    wait_for_answer,
)
from bench.stats import pct  # noqa: E402
from judge import events  # noqa: E402
from judge.config import Config  # noqa: E402
from judge.store.submissions import Storage  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "bench_front"
REDIS_URL = "redis://127.0.0.1:6379/2"
BODY = json.dumps({"source_code": "print(input())", "language_id": 71,
                   "stdin": "hello"}).encode()


# -- a small HTTP client on asyncio streams ---------------------------------------------------

def request(method: str, path: str, body: bytes = b"", close: bool = False) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: bench"]
    if method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines
                   if line.lower().startswith("content-length:")), 0)
    return int(lines[0].split()[1]), await reader.readexactly(length)


async def latencies(port: int, seconds: float, connections: int = 4) -> list[float]:
    """`GET /statuses` over and over on keep-alive connections for `seconds`; each one's
    milliseconds."""
    found: list[float] = []
    stop = time.monotonic() + seconds

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < stop:
            started = time.perf_counter()
            writer.write(request("GET", "/statuses"))
            status, _ = await read_response(reader)
            found.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return found


async def open_many(port: int, count: int, payload: bytes, per_second: float = 500
                    ) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """`count` connections, each having sent `payload`, `per_second` of them a second:
    clients arriving over some seconds, not all in one instant (then the API's answer is a
    prompt 503 for those its database pool cannot take within DATABASE_TIMEOUT)."""
    gate = asyncio.Semaphore(200)
    start = time.monotonic()

    async def one(i: int):
        await asyncio.sleep(max(start + i / per_second - time.monotonic(), 0))
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            await writer.drain()
            return reader, writer

    return await asyncio.gather(*(one(i) for i in range(count)))


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


# -- the scenarios: each returns (statuses latencies, extra facts) ----------------------------

async def idle(port: int, seconds: float) -> dict:
    return {"ms": await latencies(port, seconds)}


async def waiting(port: int, seconds: float, pids: list[int], count: int, path: str,
                  payload: bytes, ready: Callable[[], Awaitable[bool]]) -> dict:
    before = rss_kb(pids)
    held = await open_many(port, count, request("POST" if payload else "GET", path, payload))
    deadline = time.monotonic() + 120
    while not await ready() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    during = rss_kb(pids)
    ms = await latencies(port, seconds)
    for _, writer in held:
        writer.close()
    return {"ms": ms, "kb_per_client": (during - before) / count}


async def slow_bodies(port: int, seconds: float, count: int) -> dict:
    held = await open_many(port, count, request("POST", "/submissions", b"x" * 1000)[:-1000],
                           per_second=count)

    async def trickle(writer: asyncio.StreamWriter) -> None:
        for _ in range(1000):
            await asyncio.sleep(2)
            if writer.is_closing():
                return
            writer.write(b"x")

    tricklers = [asyncio.ensure_future(trickle(w)) for _, w in held]
    ms = await latencies(port, seconds)

    async def answer(reader: asyncio.StreamReader) -> int | None:
        try:
            return (await asyncio.wait_for(read_response(reader), 15))[0]
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return None  # the bare app waits for the body for ever

    statuses = await asyncio.gather(*(answer(reader) for reader, _ in held))
    for task in tricklers:
        task.cancel()
    for _, writer in held:
        writer.close()
    return {"ms": ms, "answered_408": statuses.count(408)}


async def first_event(reader: asyncio.StreamReader, kind: bytes, head: bool = True) -> float:
    """Read an SSE stream (its response head first, with `head`) until an event of `kind`;
    the time (unix) it arrived."""
    if head:
        await reader.readuntil(b"\r\n\r\n")
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("the stream ended early")
        if line.strip() == b"event: " + kind:
            return time.time()


def store_verdicts(database_url: str, redis_url: str, tokens: list[str], every: float,
                   out: multiprocessing.Queue) -> None:
    """What a worker does when a verdict is ready, for each token, `every` s apart: the
    row, then the final event; the unix time each was stored and announced."""
    storage = Storage(database_url, max_size=1)
    client = redis.Redis.from_url(redis_url)
    stored = {}
    for token in tokens:
        storage.finish_submission(token, {"status_id": 3, "stdout": b"hello\n"})
        events.send(client, token, events.FINAL, {"status_id": 3})
        stored[token] = time.time()
        time.sleep(every)
    out.put(stored)


async def engine_listeners(port: int, count: int, database_url: str) -> dict:
    tokens = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("POST", "/submissions", BODY, close=True))
        _, body = await read_response(reader)
        tokens.append(json.loads(body)["token"])
        writer.close()
    streams = []
    for token in tokens:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("GET", f"/submissions/{token}/events"))
        streams.append((reader, writer))
    await asyncio.gather(*(first_event(reader, b"status") for reader, _ in streams))
    out: multiprocessing.Queue = multiprocessing.Queue()
    storer = multiprocessing.Process(target=store_verdicts,
                                     args=(database_url, REDIS_URL, tokens, 0.002, out))
    storer.start()
    arrived = await asyncio.gather(*(first_event(reader, b"final", head=False)
                                     for reader, _ in streams))
    stored = out.get(timeout=120)
    storer.join()
    for _, writer in streams:
        writer.close()
    return {"delays": [(a - stored[t]) * 1000 for t, a in zip(tokens, arrived, strict=True)]}


async def bare_listeners(port: int, count: int) -> dict:
    start = time.time() + 2
    moments = [start + i * 0.002 for i in range(count)]
    streams = []
    for at in moments:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("GET", f"/events?at={at}"))
        streams.append((reader, writer))
    arrived = await asyncio.gather(*(first_event(reader, b"final") for reader, _ in streams))
    for _, writer in streams:
        writer.close()
    return {"delays": [(a - at) * 1000 for a, at in zip(arrived, moments, strict=True)]}


# -- running both sides -----------------------------------------------------------------------

def start_bare(processes: int, hold: float) -> tuple[int, subprocess.Popen]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "bench.bare_asgi:app",
                             "-k", "uvicorn_worker.UvicornWorker", "--workers", str(processes),
                             "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                             "--no-control-socket"], cwd=ROOT,
                            env={**os.environ, "BARE_HOLD_SECONDS": str(hold)})
    wait_for_answer(f"http://127.0.0.1:{port}")
    return port, proc


def summary(ms: list[float]) -> str:
    return f"{pct(ms, 0.5):.1f} | {pct(ms, 0.99):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10000)
    parser.add_argument("--slow", type=int, default=500)
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it too
    if hard < args.waiting + 1000:  # per process: this client holds every connection
        raise SystemExit(f"open files are limited to {hard}: --waiting {args.waiting} needs "
                         f"{args.waiting + 1000}")
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
    rows: dict[str, dict[str, dict]] = {}
    env = {"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "MAX_QUEUE_SIZE": "10000000",
           "WAIT_RESULT_TIMEOUT": "60"}
    loop = uvloop.new_event_loop()
    run = loop.run_until_complete
    try:
        url, procs = start_engine(0, env)
        port = int(url.rsplit(":", 1)[1])
        pids = api_workers(procs)
        bare_port, bare = start_bare(len(pids), hold=60)
        bare_pids = [int(p) for p in Path(f"/proc/{bare.pid}/task/{bare.pid}/children")
                     .read_text().split()]
        try:
            async def queued() -> bool:
                with psycopg.connect(database_url) as conn:
                    n = conn.execute("SELECT count(*) FROM submissions WHERE status_id = 1"
                                     ).fetchone()[0]
                return n >= args.waiting

            async def settled() -> bool:
                await asyncio.sleep(3)  # the bare app has nothing to count
                return True

            rows["idle"] = {"engine": run(idle(port, args.seconds)),
                            "bare": run(idle(bare_port, args.seconds))}
            rows["waiting"] = {
                "engine": run(waiting(port, args.seconds, pids, args.waiting,
                                      "/submissions?wait=true", BODY, queued)),
                "bare": run(waiting(bare_port, args.seconds, bare_pids, args.waiting, "/hold",
                                    b"", settled))}
        finally:
            stop_engine(procs)
            bare.terminate()
            bare.wait(60)
        # fresh servers: the held clients above are gone, their waits still run out
        url, procs = start_engine(0, env)
        port = int(url.rsplit(":", 1)[1])
        bare_port, bare = start_bare(len(api_workers(procs)), hold=60)
        try:
            rows["slow bodies"] = {"engine": run(slow_bodies(port, args.seconds, args.slow)),
                                   "bare": run(slow_bodies(bare_port, args.seconds, args.slow))}
            rows["live events"] = {
                "engine": run(engine_listeners(port, args.listeners, database_url)),
                "bare": run(bare_listeners(bare_port, args.listeners))}
            rows["accepting"] = {
                "engine": wrk(f"{url}/submissions", 10, 32, POST_LUA),
                "bare": wrk(f"http://127.0.0.1:{bare_port}/submissions", 10, 32, POST_LUA)}
        finally:
            stop_engine(procs)
            bare.terminate()
            bare.wait(60)
    finally:
        loop.close()
        flush.flushdb()
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(drop)
    report(rows, args)


def report(rows: dict[str, dict[str, dict]], args: argparse.Namespace) -> None:
    print(f"\n{os.cpu_count()} CPUs shared by the clients, gunicorn, PostgreSQL and Redis; "
          f"GET /statuses from 4 keep-alive connections for {args.seconds:g} s per row\n")
    print("| while | engine p50 ms | engine p99 ms | bare p50 ms | bare p99 ms | notes |")
    print("|---|---:|---:|---:|---:|---|")
    idle_, wait, slow = rows["idle"], rows["waiting"], rows["slow bodies"]
    print(f"| idle | {summary(idle_['engine']['ms'])} | {summary(idle_['bare']['ms'])} | |")
    print(f"| {args.waiting} clients waiting | {summary(wait['engine']['ms'])} | "
          f"{summary(wait['bare']['ms'])} | memory per waiting client: engine "
          f"{wait['engine']['kb_per_client']:.1f} KB, bare {wait['bare']['kb_per_client']:.1f} KB"
          " |")
    print(f"| {args.slow} slow bodies | {summary(slow['engine']['ms'])} | "
          f"{summary(slow['bare']['ms'])} | 408 answers: engine "
          f"{slow['engine']['answered_408']} of {args.slow}, bare {slow['bare']['answered_408']}"
          " |")
    live = rows["live events"]
    print(f"\n| {args.listeners} SSE listeners | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|")
    for side in ("engine", "bare"):
        delays = live[side]["delays"]
        label = ("engine: verdict stored to final event read" if side == "engine"
                 else "bare: event due to event read")
        print(f"| {label} | {pct(delays, 0.5):.1f} | {pct(delays, 0.99):.1f} | "
              f"{max(delays):.1f} |")
    accepting = rows["accepting"]
    print("\n| POST /submissions, wrk 32 connections 10 s | requests/s | p50 ms | p99 ms | "
          "non-2xx |")
    print("|---|---:|---:|---:|---:|")
    for side in ("engine", "bare"):
        r = accepting[side]
        print(f"| {side} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['failed']} |")


if __name__ == "__main__":
    main()
