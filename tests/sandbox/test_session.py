"""The warm session (judge/sandbox/zygote.py): the runs of one box session are forked by one
zygote inside one bubblewrap sandbox. Hostile runs try to harm the zygote, to leave something
for the next run, or to reach the zygote's control socket; each is contained, and the session
keeps judging correctly afterwards."""

from __future__ import annotations

import os

import pytest

from judge.sandbox import Outcome

from .conftest import live_box_processes

SMALL = {"cpu_time": 2, "extra_cpu_time": 0.5, "wall_time": 4}


def zygote_pid(box) -> int:
    pids = box.sandbox.session_pids() - {box.sandbox._zygote.proc.pid}
    assert len(pids) == 1, pids
    return pids.pop()


def still_judging(box) -> None:
    r = box.sh("read x; echo got $x", stdin=b"42\n")
    assert (r.outcome, r.stdout) == (Outcome.OK, b"got 42\n")


def test_runs_share_one_zygote_and_each_gets_a_new_process(box):
    box.run("/bin/true")
    zygote = zygote_pid(box)
    first = box.sh("echo $$").stdout
    second = box.sh("echo $$").stdout
    assert first != second and zygote_pid(box) == zygote
    assert box.sh("cat /proc/1/comm").stdout == b"judge-zygote\n"  # PID 1 is the zygote


@pytest.mark.parametrize("attack", [
    "kill -9 1; kill -TERM 1; kill -STOP 1; echo sent",  # pid 1 ignores its namespace's signals
    "kill -9 -1; echo survived",                           # everything it may signal
    "cat /proc/1/environ; cat /proc/1/maps; head -c 16 /proc/1/mem",  # not dumpable
    "ls -l /proc/1/fd/",                                   # the control socket
    "exec 3<>/proc/1/fd/3; echo hijack >&3",
])
def test_a_run_cannot_harm_or_reach_the_zygote(box, attack):
    box.run("/bin/true")
    zygote = zygote_pid(box)
    r = box.sh(attack, **SMALL)
    assert b"socket:" not in r.stdout and b"judge" not in r.stdout.lower()
    assert b"PATH=" not in r.stdout  # the zygote's environment stays unreadable
    assert zygote_pid(box) == zygote
    still_judging(box)


def test_a_run_sees_only_its_own_file_descriptors(box):
    r = box.sh("ls /proc/self/fd")
    assert sorted(int(fd) for fd in r.stdout.split()) == [0, 1, 2, 3]  # 3: ls's own dir fd


def test_nothing_a_run_leaves_in_tmp_shm_or_sysv_ipc_reaches_the_next(box):
    leave = ("mkdir -p /tmp/a/b/c && echo x > /tmp/a/b/c/f && chmod 000 /tmp/a/b /tmp/a; "
             "echo y > /dev/shm/seg; ln -s /box /tmp/boxlink; mkfifo /tmp/fifo; "
             "python3 -c 'import sys, ctypes; libc = ctypes.CDLL(None); "
             "print(libc.shmget(0x1234, 1 << 20, 0o1600), libc.semget(0x1235, 1, 0o1600), "
             "libc.msgget(0x1236, 0o1600))'")
    r = box.sh(leave, **SMALL)
    assert r.outcome is Outcome.OK and b"-1" not in r.stdout, r
    box.sandbox.box.write("keep", b"box files stay for the session\n")
    r = box.sh("ls -A /tmp /dev/shm; ipcs -m -s -q | grep -c 0x0000123 ; cat /box/keep")
    assert r.stdout.split(b"\n")[:4] == [b"/dev/shm:", b"", b"/tmp:", b"0"], r.stdout
    assert r.stdout.endswith(b"box files stay for the session\n")


def test_a_directory_too_deep_for_any_stack_is_still_emptied(box):
    r = box.run("/usr/bin/python3", "-c",
                "import os\nos.chdir('/tmp')\nfor _ in range(20000):\n"
                "    os.mkdir('d'); os.chdir('d')\n"
                "open('bottom', 'w').close()\nos.chmod('/tmp/d', 0)\nprint('deep')",
                # 20,000 mkdirs took more than 2.5 s of CPU on an emulated CPU (the VM lab)
                cpu_time=15, wall_time=30)
    assert r.stdout == b"deep\n", r
    assert box.sh("ls -A /tmp").stdout == b""
    still_judging(box)


def test_fork_bomb_zombies_do_not_exhaust_the_next_runs_processes(box):
    for _ in range(3):
        r = box.sh(":(){ :|:& };:; sleep 1", processes=30, **SMALL)
        assert b"retry" in r.stderr or b"Resource temporarily unavailable" in r.stderr
        still_judging(box)
    assert live_box_processes() == []


def test_a_new_box_session_gets_a_new_sandbox(box):
    box.sh("echo old > /tmp/mark")
    zygote = zygote_pid(box)
    box.sandbox.box.reset()  # a new submission: new tmpfs, new sandbox
    assert box.sh("ls -A /tmp").stdout == b""
    assert zygote_pid(box) != zygote
    assert not os.path.exists(f"/proc/{zygote}")  # the old one is gone, not just replaced


LEAVE_BEHIND = (
    "import ctypes, os\n"
    "os.makedirs('/box/a/b'); open('/box/a/b/f', 'w').write('secret')\n"
    "open('/tmp/t', 'w').write('secret'); open('/dev/shm/s', 'w').write('secret')\n"
    "try: os.setxattr('/box', 'user.leak', b'secret')\n"
    "except OSError: pass  # tmpfs has user xattrs from Linux 6.6 on; the rest still applies\n"
    "os.chmod('/box/a', 0); os.chmod('/box', 0o700); os.chmod('/tmp', 0o700)\n"
    "rt = ctypes.CDLL('librt.so.1', use_errno=True)\n"
    "print('mq', rt.mq_open(b'/leak', os.O_CREAT | os.O_RDWR, 0o600, None))\n"
)


def test_between_submissions_the_same_sandbox_is_emptied_as_if_new(box):
    r = box.run("/usr/bin/python3", "-c", LEAVE_BEHIND, **SMALL)
    assert r.stdout == b"mq -1\n", r  # POSIX message queues outlive runs: refused
    zygote = zygote_pid(box)
    box.sandbox.prepare()  # what a worker does between two submissions
    assert box.sandbox.box.fresh and zygote_pid(box) == zygote  # reused, not rebuilt
    r = box.sh("ls -A /box /tmp /dev/shm; stat -c '%a' /box /tmp /dev/shm; "
               "python3 -c \"import os; print(os.listxattr('/box'))\"")
    assert r.stdout == b"/box:\n\n/dev/shm:\n\n/tmp:\n755\n755\n755\n[]\n", r.stdout  # as new
    still_judging(box)


def test_a_session_serves_a_bounded_number_of_submissions(box, monkeypatch):
    from judge.sandbox import zygote as zygote_module
    monkeypatch.setattr(zygote_module, "SESSION_SUBMISSIONS", 2)
    box.run("/bin/true")
    first = zygote_pid(box)
    box.sandbox.prepare()
    assert zygote_pid(box) == first
    box.run("/bin/true")
    box.sandbox.prepare()  # the session's third submission: a new sandbox on a new tmpfs
    box.run("/bin/true")
    assert zygote_pid(box) != first
