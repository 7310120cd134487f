"""`python -m workers [--burst]`: one judging worker process (what `judge up` starts per CPU)."""

from __future__ import annotations

import argparse
import logging
import sys

from judge.sandbox import SandboxUnavailable

from .worker import run_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    try:
        run_worker(burst=args.burst)
    except SandboxUnavailable as e:
        print(f"worker refuses to start: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
