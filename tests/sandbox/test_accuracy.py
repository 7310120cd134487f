"""Time and memory are measured precisely: from the cgroup, all processes, no set-up billed.
(These bound the measurement, not the speed of the machine.)"""

from __future__ import annotations

import os
import subprocess

import pytest

from judge.sandbox import Outcome


def test_a_one_second_cpu_burner_is_reported_within_3_percent(box):
    box.install("burn")
    r = box.run("./burn", "1.0")
    assert r.outcome is Outcome.OK
    assert 0.97 <= r.cpu_time <= 1.03, r.cpu_time


def test_the_one_second_burner_stays_within_3_percent_on_a_loaded_machine(box):
    """Other submissions compete for every core (here: one busy loop per CPU, plus one): the
    burner's wall time stretches, its CPU time must not."""
    box.install("burn")
    load = [subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"])
            for _ in range((os.cpu_count() or 1) + 1)]
    try:
        r = box.run("./burn", "1.0", wall_time=30)
    finally:
        for p in load:
            p.kill()
            p.wait()
    assert r.outcome is Outcome.OK
    assert 0.97 <= r.cpu_time <= 1.03, r.cpu_time
    assert r.wall_time > r.cpu_time  # the machine really was loaded


def test_cpu_of_every_process_is_counted(box):
    box.install("burn")
    r = box.run("./burn", "0.5", "2")
    assert r.outcome is Outcome.OK
    assert 0.97 <= r.cpu_time <= 1.03, r.cpu_time


def test_64_mb_touched_is_reported_within_4_mb(box):
    box.install("touch_mb")
    baseline = box.run("./touch_mb", "0").memory_kb
    r = box.run("./touch_mb", "64")
    assert r.outcome is Outcome.OK
    assert abs(r.memory_kb - baseline - 64 * 1024) <= 4 * 1024, (r.memory_kb, baseline)


@pytest.mark.cpu_tight  # javac takes ~12 s of CPU under TCG against its 15 s limit
def test_runtimes_start_under_128_mb(box):
    box.sandbox.box.write("Main.java", b'public class Main { public static void main(String[] a)'
                                       b' { System.out.println("java ok"); } }')
    compiled = box.run("/usr/bin/javac", "-J-XX:+UseSerialGC", "Main.java", memory_kb=512_000,
                       processes=120, cpu_time=15, wall_time=30)
    assert compiled.outcome is Outcome.OK, compiled
    for argv, expected in [
        (("/usr/bin/java", "-XX:+UseSerialGC", "-XX:MaxRAM=128000k", "-Xss64000k", "Main"),
         b"java ok\n"),
        (("/usr/bin/node", "--max-old-space-size=125", "-e", "console.log('node ok')"),
         b"node ok\n"),
        (("/usr/bin/python3", "-c", "print('python ok')"), b"python ok\n"),
    ]:
        r = box.run(*argv, memory_kb=128_000)
        assert (r.outcome, r.stdout) == (Outcome.OK, expected), r
        assert r.memory_kb < 128_000
    box.sandbox.box.write("hello.c", b'#include <stdio.h>\nint main(){puts("gcc ok");}')
    assert box.run("/usr/bin/gcc", "hello.c", memory_kb=128_000).outcome is Outcome.OK
    assert box.run("./a.out", memory_kb=128_000).stdout == b"gcc ok\n"
