"""Every outcome of a sandboxed run, produced by a real program."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path

import pytest

from judge.sandbox import Limits, Outcome, RunSpec


def test_exit_status_zero_is_ok(box):
    r = box.sh("echo hi")
    assert (r.outcome, r.exit_code, r.signal, r.stdout, r.message) == (Outcome.OK, 0, None,
                                                                        b"hi\n", None)


def test_nonzero_exit_status_is_reported_with_judge0s_message(box):
    for code in (1, 42):
        r = box.sh(f"exit {code}")
        assert (r.outcome, r.exit_code) == (Outcome.NONZERO_EXIT, code)
        assert r.message == f"Exited with error status {code}"


def test_a_missing_program_is_exit_status_127(box):
    r = box.run("/box/no-such-program")
    assert (r.outcome, r.exit_code) == (Outcome.NONZERO_EXIT, 127)


def test_segfault_is_reported_as_signal_11(box):
    box.install("signals")
    r = box.run("./signals", "segv")
    assert (r.outcome, r.signal, r.exit_code) == (Outcome.SIGNALED, signal.SIGSEGV, None)
    assert r.message == "Caught fatal signal 11"


def test_division_by_zero_abort_and_sigkill_are_reported_as_their_signals(box):
    box.install("signals")
    for kind, sig in (("fpe", signal.SIGFPE), ("abort", signal.SIGABRT),
                      ("kill", signal.SIGKILL)):
        r = box.run("./signals", kind)
        assert (r.outcome, r.signal) == (Outcome.SIGNALED, sig), kind


def test_writing_past_the_file_size_limit_is_sigxfsz(box):
    box.install("bigfile")
    r = box.run("./bigfile", "out", file_size_kb=256)
    assert (r.outcome, r.signal) == (Outcome.SIGNALED, signal.SIGXFSZ)
    r = box.run("./bigfile", "out2", "ignore", file_size_kb=256)
    assert r.outcome is Outcome.NONZERO_EXIT and b"File too large" in r.stderr


def test_cpu_time_limit_kills_promptly(box):
    r = box.run("/usr/bin/python3", "-c", "while True: pass", cpu_time=1, extra_cpu_time=0.2)
    assert r.outcome is Outcome.TIME_LIMIT_CPU
    assert r.message == "Time limit exceeded"
    assert 1.2 <= r.cpu_time < 1.2 + 0.2  # killed within the supervisor's polling period


def test_cpu_limit_without_extra_time_is_still_time_limit(box):
    box.install("burn")
    r = box.run("./burn", "0.6", cpu_time=0.5, extra_cpu_time=1)
    assert r.outcome is Outcome.TIME_LIMIT_CPU  # ran to completion but over the limit


def test_wall_time_limit(box):
    r = box.run("/bin/sleep", "10", wall_time=1)
    assert r.outcome is Outcome.TIME_LIMIT_WALL
    assert r.message == "Time limit exceeded (wall clock)"
    assert 1.0 <= r.wall_time < 10  # stopped at the limit, long before sleep's own end


def test_memory_limit_is_detected_from_the_cgroup(box):
    box.install("membomb")
    r = box.run("./membomb", memory_kb=32_000)
    assert r.outcome is Outcome.MEMORY_LIMIT
    assert r.message == "Memory limit exceeded"
    assert 30_000 <= r.memory_kb <= 32_100


def test_output_limit_on_stdout_and_stderr(box):
    r = box.run("/usr/bin/yes", output_bytes=100_000)
    assert r.outcome is Outcome.OUTPUT_LIMIT and len(r.stdout) == 100_000
    r = box.sh("yes >&2", output_bytes=50_000)
    assert r.outcome is Outcome.OUTPUT_LIMIT and len(r.stderr) == 50_000


def test_stderr_is_captured_apart_or_merged(box):
    r = box.sh("echo out; echo err >&2")
    assert (r.stdout, r.stderr) == (b"out\n", b"err\n")
    r = box.sh("echo out; echo err >&2", stderr_to_stdout=True)
    assert (r.stdout, r.stderr) == (b"out\nerr\n", b"")


def test_stdin_from_bytes_and_from_a_host_file(box):
    assert box.run("/bin/cat", stdin=b"\x00\xff bytes").stdout == b"\x00\xff bytes"
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"from a file\n")
        f.flush()
        assert box.run("/bin/cat", stdin=Path(f.name)).stdout == b"from a file\n"
    assert box.run("/bin/cat").stdout == b""  # no stdin: /dev/null


def test_environment_is_minimal_plus_what_the_spec_adds(box):
    r = box.run("/usr/bin/env", env={"EXTRA": "1"})
    assert sorted(r.stdout.decode().split()) == [
        "EXTRA=1", "HOME=/tmp", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
        "PATH=/usr/local/bin:/usr/bin:/bin", "PWD=/box"]


def test_per_process_time_limit_uses_rlimit_cpu(box):
    r = box.run("/usr/bin/python3", "-c", "while True: pass", cpu_time=1, extra_cpu_time=0,
                per_process_time=True)
    assert r.outcome is Outcome.TIME_LIMIT_CPU


def test_per_process_memory_limit_uses_an_address_space_limit(box):
    r = box.run("/usr/bin/python3", "-c", "bytearray(200 << 20)", memory_kb=100_000,
                per_process_memory=True)
    assert r.outcome is Outcome.NONZERO_EXIT and b"MemoryError" in r.stderr


def test_stack_limit_decides_how_deep_a_program_may_recurse(box):
    box.install("recurse")
    assert box.run("./recurse", "20000", stack_kb=64_000).outcome is Outcome.OK
    r = box.run("./recurse", "20000", stack_kb=1_000)
    assert (r.outcome, r.signal) == (Outcome.SIGNALED, signal.SIGSEGV)


@pytest.mark.cpu_tight  # under TCG the gate shell's last steps alone cost one exec (~25 ms)
def test_cpu_time_excludes_the_sandbox_set_up(box):
    """The cold path builds a whole bubblewrap sandbox inside the run's cgroup before the
    program starts; none of that is billed: what /bin/true is charged there is what it is
    charged warm, within the noise of one exec (bench/sandbox.py prints the figures)."""
    box.run("/bin/true")
    warm = min(box.run("/bin/true").cpu_time for _ in range(5))
    cold = min(box.sandbox.run(RunSpec(("/bin/true",), Limits(), network=True)).cpu_time
               for _ in range(5))
    assert cold < 2 * warm + 0.002, (cold, warm)  # billing bwrap's set-up would be 10-30x


def test_per_process_time_lets_several_processes_each_stay_under_the_limit(box):
    box.install("burn")
    r = box.run("./burn", "0.7", "2", cpu_time=1, extra_cpu_time=0.5, per_process_time=True)
    assert r.cpu_time > 1.3  # 2 x 0.7 s in total, 0.7 s each
    assert r.outcome is Outcome.OK
