"""Every outcome of a sandboxed run, each produced by a real program, with the fields a verdict
reads (exit code, signal, measured time and memory, captured output, message)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from judge.sandbox import Outcome

from .conftest import SECRET


@pytest.mark.parametrize("code", [0, 1, 42])
def test_exit_status_is_reported_as_is(box, code):
    r = box.c("crash", "exit", str(code))
    assert r.exit_code == code and r.signal is None
    if code == 0:
        assert (r.outcome, r.message, r.ok) == (Outcome.OK, None, True)
    else:
        assert (r.outcome, r.message) == (Outcome.NONZERO_EXIT, f"Exited with error status {code}")


@pytest.mark.parametrize("how, signum", [
    ("segv", signal.SIGSEGV),   # null pointer dereference
    ("fpe", signal.SIGFPE),     # integer division by zero
    ("abort", signal.SIGABRT),  # abort()
    ("kill", signal.SIGKILL),   # raise(SIGKILL): a SIGKILL that is not an OOM kill
])
def test_a_program_killed_by_a_signal_is_reported_with_that_signal(box, how, signum):
    r = box.c("crash", how)
    assert (r.outcome, r.signal, r.exit_code) == (Outcome.SIGNALED, signum, None)
    assert r.message == f"Caught fatal signal {signum}"


def test_segfault_is_reported_as_signal_11(box):
    r = box.c("crash", "segv")
    assert (r.outcome, r.signal) == (Outcome.SIGNALED, 11)


def test_writing_past_the_file_size_limit_is_sigxfsz_at_exactly_the_limit(box):
    r = box.c("bigfile", "out", file_size_kb=256)
    assert (r.outcome, r.signal) == (Outcome.SIGNALED, signal.SIGXFSZ)  # 25
    assert (box.path / "out").stat().st_size == 256 * 1024


def test_with_sigxfsz_ignored_the_write_fails_with_efbig_instead(box):
    r = box.c("bigfile", "out", "ignore", file_size_kb=256)
    assert (r.outcome, r.exit_code) == (Outcome.NONZERO_EXIT, 3)
    assert r.stdout == b"262144 File too large\n"


def test_cpu_time_limit_kills_a_busy_loop_promptly_after_the_extra_time(box):
    r = box.c("burn", "-1", cpu_time=1, extra_cpu_time=0.5, wall_time=10)
    assert r.outcome is Outcome.TIME_LIMIT_CPU
    assert r.message == "Time limit exceeded"
    # killed once limit + extra time was used, within the supervisor's polling period
    assert 1.5 <= r.cpu_time < 1 + 0.5 + 0.2, r.cpu_time
    assert r.signal == signal.SIGKILL


def test_cpu_over_the_limit_but_within_the_extra_time_is_still_time_limit(box):
    r = box.c("burn", "0.4", cpu_time=0.3, extra_cpu_time=1)
    assert r.exit_code == 0  # it finished on its own ...
    assert r.outcome is Outcome.TIME_LIMIT_CPU  # ... but used more than the limit


def test_wall_time_limit_kills_a_sleeping_program(box):
    r = box.run("/bin/sleep", "100", wall_time=0.5)
    assert r.outcome is Outcome.TIME_LIMIT_WALL
    assert r.message == "Time limit exceeded (wall clock)"
    assert 0.5 <= r.wall_time < 5  # killed, not slept out
    assert r.cpu_time < 0.1


def test_memory_limit_is_an_oom_kill_with_the_peak_at_the_limit(box):
    r = box.c("mem", "bomb", memory_kb=48_000)
    assert (r.outcome, r.message) == (Outcome.MEMORY_LIMIT, "Memory limit exceeded")
    assert 46_000 <= r.memory_kb <= 48_000, r.memory_kb


def test_memory_below_the_limit_is_ok(box):
    r = box.c("mem", "touch", "16", memory_kb=48_000)
    assert r.outcome is Outcome.OK and 16 * 1024 <= r.memory_kb < 48_000


def test_output_limit_on_stdout_keeps_exactly_the_cap(box):
    r = box.c("flood", "1", "64", output_bytes=100_000)
    assert (r.outcome, r.message) == (Outcome.OUTPUT_LIMIT, "Output limit exceeded")
    assert r.stdout == b"x" * 100_000


def test_output_limit_on_stderr(box):
    r = box.c("flood", "2", "64", output_bytes=50_000)
    assert r.outcome is Outcome.OUTPUT_LIMIT
    assert (r.stdout, r.stderr) == (b"", b"x" * 50_000)


def test_output_exactly_at_the_cap_is_ok(box):
    r = box.c("flood", "1", "1", output_bytes=1 << 20)
    assert r.outcome is Outcome.OK and len(r.stdout) == 1 << 20


def test_stderr_is_captured_apart_from_stdout(box):
    r = box.sh("echo out; echo err >&2; echo out2")
    assert (r.outcome, r.stdout, r.stderr) == (Outcome.OK, b"out\nout2\n", b"err\n")


def test_stderr_to_stdout_merges_both_in_order(box):
    r = box.sh("echo out; echo err >&2; echo out2", stderr_to_stdout=True)
    assert (r.stdout, r.stderr) == (b"out\nerr\nout2\n", b"")


def test_stdin_bytes_reach_the_program_unchanged(box):
    data = bytes(range(256)) * 1000 + b"\nend"
    r = box.run("/bin/cat", stdin=data)
    assert r.outcome is Outcome.OK and r.stdout == data


def test_stdin_from_a_host_file(box, tmp_path):
    host_file = tmp_path / "input.txt"
    host_file.write_bytes(b"line 1\nline 2\n")
    r = box.run("/usr/bin/wc", "-l", stdin=host_file)
    assert r.stdout.strip() == b"2"


def test_no_stdin_reads_as_empty(box):
    assert box.run("/bin/cat").stdout == b""


def test_environment_is_the_minimal_one_plus_what_the_run_adds(box):
    r = box.run("/usr/bin/env", env={"JUDGE_EXTRA": "a value with spaces", "LANG": "C"})
    env = dict(line.split("=", 1) for line in r.stdout.decode().splitlines())
    assert env == {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C",
                   "LC_ALL": "C.UTF-8", "JUDGE_EXTRA": "a value with spaces", "PWD": "/box"}
    assert SECRET.encode() not in r.stdout  # nothing of the supervisor's environment


@pytest.mark.parametrize("program", ["/box/no-such-program", "no-such-command"])
def test_a_missing_program_is_exit_status_127(box, program):
    r = box.run(program)
    assert (r.outcome, r.exit_code) == (Outcome.NONZERO_EXIT, 127)
    assert b"not found" in r.stderr


def test_a_file_that_is_not_executable_is_exit_status_126(box):
    box.box.write("script.sh", b"#!/bin/sh\necho hi\n", mode=0o644)
    r = box.run("./script.sh")
    assert (r.outcome, r.exit_code) == (Outcome.NONZERO_EXIT, 126)


def test_per_process_time_limit_is_rlimit_cpu_and_reports_time_limit(box):
    r = box.c("burn", "-1", cpu_time=1, extra_cpu_time=0, wall_time=10, per_process_time=True)
    assert r.outcome is Outcome.TIME_LIMIT_CPU
    assert r.signal == signal.SIGXCPU  # the kernel stopped it, not the supervisor


@pytest.mark.xfail(strict=True, reason=(
    "BUG native._decide: TIME_LIMIT_CPU whenever the cgroup's total CPU exceeds cpu_time, "
    "even with per_process_time where the limit is per process (spec.Limits)"))
def test_per_process_time_lets_several_processes_each_stay_under_the_limit(box):
    r = box.c("burn", "0.7", "2", cpu_time=1, extra_cpu_time=0.5, wall_time=10,
              per_process_time=True)
    assert r.cpu_time > 1.3  # 2 x 0.7 s in total, 0.7 s each
    assert r.outcome is Outcome.OK


def test_total_time_mode_counts_every_process_against_the_limit(box):
    r = box.c("burn", "0.7", "2", cpu_time=1, extra_cpu_time=0.2, wall_time=10)
    assert r.outcome is Outcome.TIME_LIMIT_CPU


def test_per_process_memory_limits_each_address_space_malloc_fails_gracefully(box):
    r = box.c("mem", "touch", "120", memory_kb=100_000, per_process_memory=True)
    assert (r.outcome, r.exit_code, r.stderr) == (Outcome.NONZERO_EXIT, 3, b"malloc failed\n")
    r = box.py("bytearray(200 << 20)", memory_kb=100_000, per_process_memory=True)
    assert r.outcome is Outcome.NONZERO_EXIT and b"MemoryError" in r.stderr


def test_per_process_memory_lets_two_processes_together_exceed_the_limit(box):
    args = ("mem", "touch", "60", "2", "300")  # 2 processes x 60 MB, held together
    total = box.c(*args, memory_kb=100_000)
    assert total.outcome is Outcome.MEMORY_LIMIT
    per_process = box.c(*args, memory_kb=100_000, per_process_memory=True)
    assert per_process.outcome is Outcome.OK and per_process.memory_kb > 100_000


def test_stack_limit_decides_how_deep_a_program_may_recurse(box):
    deep = box.c("recurse", "20000", stack_kb=64_000)  # about 20 MB of stack
    assert (deep.outcome, deep.stdout) == (Outcome.OK, b"depth 20000 ok\n")
    r = box.c("recurse", "20000", stack_kb=1_000)
    assert (r.outcome, r.signal) == (Outcome.SIGNALED, signal.SIGSEGV)


def test_runs_in_one_box_share_its_files(box):
    assert box.sh("echo data > kept").ok
    assert box.run("/bin/cat", "kept").stdout == b"data\n"
    assert box.box.read("kept", 100) == b"data\n"


def test_files_written_by_the_program_belong_to_the_box_uid(box):
    assert box.sh("echo x > mine").ok
    st = (box.path / "mine").stat()
    assert (st.st_uid, st.st_gid) == (box.box.uid, box.box.uid)


def test_stdin_path_must_exist(box):
    r = box.run("/bin/cat", stdin=Path("/nonexistent/input"))
    assert r.outcome is Outcome.INTERNAL_ERROR and "No such file" in r.message
