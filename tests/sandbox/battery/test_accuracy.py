"""Time and memory are measured precisely: from the run's cgroup, every process counted, the
sandbox's own set-up not billed. These bound the measurement, not the speed of the machine:
the burners stop after a fixed amount of their own CPU time, whatever the load."""

from __future__ import annotations

import pytest

from judge.sandbox import Outcome

MB = 1024  # in KB


def test_a_one_second_cpu_burner_is_reported_within_3_percent(box):
    r = box.c("burn", "1.0")
    assert r.outcome is Outcome.OK
    assert 0.97 <= r.cpu_time <= 1.03, r.cpu_time


def test_a_two_process_burner_counts_both_processes(box):
    r = box.c("burn", "0.5", "2")  # two processes, 0.5 s of CPU each
    assert r.outcome is Outcome.OK
    assert 0.97 <= r.cpu_time <= 1.03, r.cpu_time


def test_sandbox_set_up_is_not_billed_to_the_program(box):
    r = box.c("crash", "exit", "0")
    assert r.outcome is Outcome.OK
    assert r.cpu_time < 0.01 and r.memory_kb < 4 * MB


def test_64_mb_touched_is_reported_within_4_mb_over_the_programs_baseline(box):
    baseline = box.c("mem", "touch", "0")
    r = box.c("mem", "touch", "64")
    assert baseline.outcome is Outcome.OK and r.outcome is Outcome.OK
    assert abs(r.memory_kb - (64 * MB + baseline.memory_kb)) <= 4 * MB, \
        (r.memory_kb, baseline.memory_kb)


def test_memory_of_every_process_is_counted(box):
    baseline = box.c("mem", "touch", "0", "2", "200")
    r = box.c("mem", "touch", "32", "2", "200")  # two processes hold 32 MB each at once
    assert r.outcome is Outcome.OK
    assert abs(r.memory_kb - (64 * MB + baseline.memory_kb)) <= 4 * MB, \
        (r.memory_kb, baseline.memory_kb)


# Runtimes start under Judge0's default memory limit (128 000 KB) when given the flags a
# language configuration passes (languages.yml): the JVM and V8 size their heaps from the
# limit, because they cannot see the cgroup from inside the sandbox.
LIMIT_KB = 128_000
JAVA = ("/usr/bin/java", "-XX:+UseSerialGC", f"-XX:MaxRAM={LIMIT_KB}k",
        "-XX:MaxRAMPercentage=60", "-Xss64000k")
JAVA_MAIN = b"""public class Main {
    public static void main(String[] args) {
        System.out.println("java " + (Runtime.getRuntime().maxMemory() < 128_000_000L));
    }
}
"""


@pytest.fixture
def runtime_limits():
    return {"memory_kb": LIMIT_KB, "processes": 60, "cpu_time": 10, "wall_time": 20}


def test_java_compiles_with_javac_and_runs_under_128_mb(box, runtime_limits):
    box.box.write("Main.java", JAVA_MAIN)
    javac = box.run("/usr/bin/javac", "-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1",
                    "-J-XX:MaxRAM=262144k", "Main.java", memory_kb=262_144, processes=64,
                    cpu_time=15, wall_time=30)
    assert javac.outcome is Outcome.OK, (javac.message, javac.stderr)
    assert box.box.exists("Main.class")
    r = box.run(*JAVA, "Main", **runtime_limits)
    assert (r.outcome, r.stdout) == (Outcome.OK, b"java true\n"), (r.message, r.stderr)
    assert r.memory_kb < LIMIT_KB


def test_java_version_runs_under_128_mb(box, runtime_limits):
    r = box.run(*JAVA, "-version", **runtime_limits)
    assert r.outcome is Outcome.OK and b"openjdk version" in r.stderr, r.stderr


def test_node_runs_under_128_mb(box, runtime_limits):
    r = box.run("/usr/bin/node", "--max-old-space-size=125", "-e",
                "console.log('node', process.memoryUsage().rss < 128e6)", **runtime_limits)
    assert (r.outcome, r.stdout) == (Outcome.OK, b"node true\n"), r.stderr
    assert r.memory_kb < LIMIT_KB


def test_gcc_compiles_and_the_program_runs_under_128_mb(box, runtime_limits):
    box.box.write("hello.c", b'#include <stdio.h>\nint main(void) { puts("gcc ok"); }\n')
    cc = box.run("/usr/bin/gcc", "-O2", "hello.c", "-o", "hello", **runtime_limits)
    assert cc.outcome is Outcome.OK, cc.stderr
    assert cc.memory_kb < LIMIT_KB
    r = box.run("./hello", **runtime_limits)
    assert (r.outcome, r.stdout) == (Outcome.OK, b"gcc ok\n")


def test_python_runs_under_128_mb(box, runtime_limits):
    r = box.py("import json, sys; print('python', sys.version_info >= (3, 11))",
               **runtime_limits)
    assert (r.outcome, r.stdout) == (Outcome.OK, b"python True\n"), r.stderr
    assert r.memory_kb < LIMIT_KB
