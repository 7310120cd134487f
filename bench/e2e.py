"""End-to-end latency: `POST /submissions?wait=true` (hello world with stdin) per language,
against the same program compiled and run bare on this machine with the same commands
(languages.yml), interleaved in one run.

    python bench/e2e.py [--runs 30] [--url http://127.0.0.1:2358]

Without --url it starts its own API (gunicorn) and workers on a free port, using DATABASE_URL
and REDIS_URL (defaults: the local judge database and Redis database 11), and stops them after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import start_engine, stop_engine  # noqa: E402
from bench.stats import pct  # noqa: E402
from judge.contract.languages import Language, LanguageCatalog  # noqa: E402
from judge.sandbox.bwrap import BASE_ENV  # noqa: E402

# language id -> hello world reading a name from stdin
PROGRAMS = {
    71: 'print("hello, " + input())',
    50: '#include <stdio.h>\nint main(){char n[64];scanf("%63s",n);printf("hello, %s\\n",n);}',
    54: "#include <iostream>\n#include <string>\nint main(){std::string n;std::cin>>n;"
        'std::cout<<"hello, "<<n<<std::endl;}',
    62: "import java.util.Scanner;\npublic class Main{public static void main(String[] a){"
        'System.out.println("hello, "+new Scanner(System.in).next());}}',
    63: "const n=require('fs').readFileSync(0,'utf8').trim();console.log('hello, '+n);",
    46: 'read n; echo "hello, $n"',
}
# the sandbox's environment: the host's may hold things that slow a runtime down (e.g.
# NODE_EXTRA_CA_CERTS makes Node.js read every CA certificate at start-up)
BARE_ENV = dict(BASE_ENV)
BARE_LIMITS = {"memory_limit": 128000, "stack_limit": 64000, "max_processes_and_or_threads": 60}


def bare(language: Language) -> float:
    """The language's own compile and run commands (languages.yml), run by bash on the host."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, language.source_file).write_text(PROGRAMS[language.id])
        start = time.perf_counter()
        if language.compile_cmd:
            subprocess.run(["/bin/bash", "-c", language.compile_command("", BARE_LIMITS)],
                           cwd=tmp, check=True, capture_output=True, env=BARE_ENV)
        out = subprocess.run(["/bin/bash", "-c", language.run_command("", BARE_LIMITS)],
                             cwd=tmp, input=b"world", capture_output=True, check=True,
                             env=BARE_ENV)
        elapsed = time.perf_counter() - start
    assert out.stdout == b"hello, world\n", out
    return elapsed


COMMENT = {71: "#", 50: "//", 54: "//", 62: "//", 63: "//", 46: "#"}


def judged(http: requests.Session, url: str, language_id: int) -> float:
    # a different source every time (a unique comment), so compiled languages really compile:
    # no compile-cache hits (bench/compile_cache.py measures those)
    source = f"{PROGRAMS[language_id]}\n{COMMENT[language_id]} {uuid.uuid4()}\n"
    start = time.perf_counter()
    resp = http.post(f"{url}/submissions", params={"wait": "true"}, timeout=60,
                     json={"source_code": source, "language_id": language_id, "stdin": "world"})
    elapsed = time.perf_counter() - start
    body = resp.json()
    assert body["status"]["id"] == 3 and body["stdout"] == "hello, world\n", body
    return elapsed



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--url")
    parser.add_argument("--languages", default=",".join(map(str, PROGRAMS)))
    args = parser.parse_args()
    procs: list[subprocess.Popen] = []
    url = args.url
    if url is None:
        url, procs = start_engine(workers=os.cpu_count() or 1)
    http = requests.Session()
    try:
        rows = []
        catalog = LanguageCatalog.load()
        for language_id in map(int, args.languages.split(",")):
            language = catalog.get(language_id)
            judged(http, url, language_id)  # warm-up: first JVM/gcc start fills the page cache
            bare(language)
            ours, base = [], []
            for _ in range(args.runs):
                base.append(bare(language))
                ours.append(judged(http, url, language_id))
            rows.append((language.name, base, ours))
        print(f"\n{args.runs} runs each, interleaved; milliseconds\n")
        print("| language | bare median | bare p95 | judged median | judged p95 | overhead (median) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, base, ours in rows:
            bm, om = statistics.median(base) * 1e3, statistics.median(ours) * 1e3
            print(f"| {name} | {bm:.1f} | {pct(base, .95) * 1e3:.1f} | {om:.1f} | "
                  f"{pct(ours, .95) * 1e3:.1f} | {om - bm:+.1f} |")
    finally:
        stop_engine(procs)


if __name__ == "__main__":
    main()
