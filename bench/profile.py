"""Where a judged submission's time goes: py-spy samples the API and a worker while Python hello
worlds are posted one after another with `wait=true`, and prints, per process, the functions
with the largest share of the samples (inclusive: a function and what it calls) and the
largest share spent in the function itself.

    python bench/profile.py [--count 200] [--top 20]

Idle time (a worker waiting for a job, an API thread waiting for a request) is left out
(py-spy without --idle), so the shares are of the time spent working.
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import api_workers, start_engine, stop_engine  # noqa: E402

BODY = {"source_code": "print('hello, ' + input())", "language_id": 71, "stdin": "world"}


def py_spy() -> str:
    found = Path(sys.executable).with_name("py-spy")
    if not found.exists():
        raise SystemExit("py-spy is not installed: `make bench` installs it (the bench extra)")
    return str(found)


def summarise(raw: Path, top: int) -> list[str]:
    """Collapsed stacks ("frame;frame;frame count") -> the top functions by share."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")")
                  if "(" in f else f for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    lines = [f"{total} samples", "", "| inclusive | function |", "|---:|---|"]
    lines += [f"| {n / total:.0%} | `{f}` |" for f, n in inclusive.most_common(top)]
    lines += ["", "| own | function |", "|---:|---|"]
    lines += [f"| {n / total:.0%} | `{f}` |" for f, n in own.most_common(top)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    spy = py_spy()
    url, procs = start_engine(1)
    http = requests.Session()
    try:
        for _ in range(10):  # warm-up: pools, caches, the language self-test
            http.post(f"{url}/submissions", params={"wait": "true"}, json=BODY, timeout=60)
        targets = {f"API (gunicorn worker {n})": pid
                   for n, pid in enumerate(api_workers(procs), 1)}
        targets["judging worker"] = procs[1].pid
        with tempfile.TemporaryDirectory() as tmp:
            spies = {name: (Path(tmp, f"{pid}.txt"), subprocess.Popen(
                [spy, "record", "--format", "raw", "--rate", "500", "--nonblocking",
                 "-o", str(Path(tmp, f"{pid}.txt")), "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                for name, pid in targets.items()}
            time.sleep(1)
            start = time.monotonic()
            for _ in range(args.count):
                resp = http.post(f"{url}/submissions", params={"wait": "true"}, json=BODY,
                                 timeout=60)
                assert resp.json()["status"]["id"] == 3, resp.text
            elapsed = time.monotonic() - start
            for _, spy_proc in spies.values():
                spy_proc.send_signal(signal.SIGINT)
                spy_proc.wait(60)
            print(f"\n{args.count} sequential wait=true Python hello worlds: "
                  f"{elapsed / args.count * 1e3:.1f} ms each (under the profiler)\n")
            for name, (raw, _) in spies.items():
                print(f"### {name}\n")
                print("\n".join(summarise(raw, args.top)) + "\n")
    finally:
        stop_engine(procs)


if __name__ == "__main__":
    main()
