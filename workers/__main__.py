"""`python -m workers [--burst]`: one judging worker process (what `judge up` starts per CPU)."""

from __future__ import annotations

import argparse
import sys

from judge import logs
from judge.config import Config
from judge.sandbox import SandboxUnavailable

from .worker import run_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    args = parser.parse_args(argv)
    try:
        config = Config.load()
        logs.configure(config.log_format, config.log_level)
    except ValueError as e:  # a ConfigError, or a LOG_FORMAT/LOG_LEVEL it does not know
        print(f"worker refuses to start: {e}", file=sys.stderr)
        return 2
    try:
        run_worker(burst=args.burst)
    except SandboxUnavailable as e:
        print(f"worker refuses to start: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
