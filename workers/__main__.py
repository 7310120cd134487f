"""`python -m workers [--burst]`: one judging worker process (what `judge up` starts per CPU)."""

from __future__ import annotations

import argparse
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    # The kernel drops a signal that PID 1 (a container's worker) does not handle: until the
    # work loop takes SIGTERM over for its warm shutdown, SIGTERM stops the start-up as Ctrl+C
    # does, from before the engine's modules load. A box left half set up is swept by the next
    # worker, as after a crash.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return _start(argv)
    except KeyboardInterrupt:
        return 0


def _start(argv: list[str] | None) -> int:
    from judge import logs
    from judge.config import Config
    from judge.context import WorkerContext
    from judge.sandbox import SandboxUnavailable

    from .worker import run_worker

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
        context = WorkerContext.create(config)  # refuses to start without isolation
    except SandboxUnavailable as e:
        print(f"worker refuses to start: {e}", file=sys.stderr)
        return 2
    run_worker(context, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
