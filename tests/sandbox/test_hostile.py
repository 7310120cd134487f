"""Hostile programs in C, Python and Bash: each is contained and the host is unaffected."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from judge.sandbox import BoxError, Outcome

from .conftest import FIRST_UID, live_box_processes

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sandbox-secret-" + os.urandom(6).hex()
os.environ["JUDGE_SANDBOX_TEST_SECRET"] = SECRET  # the supervisor's environment
SMALL = {"cpu_time": 2, "extra_cpu_time": 0.5, "wall_time": 4}


def box_disk_usage(box) -> int:
    return shutil.disk_usage(box.sandbox.box.path).used


def test_bash_fork_bomb_is_stopped_by_the_pids_limit(box):
    r = box.sh(":(){ :|:& };:; sleep 1; echo end", processes=30, **SMALL)
    assert r.outcome in (Outcome.OK, Outcome.TIME_LIMIT_WALL, Outcome.NONZERO_EXIT)
    assert b"retry" in r.stderr or b"Resource temporarily unavailable" in r.stderr
    assert live_box_processes() == []


def test_c_fork_bomb_is_stopped_and_killed(box):
    box.install("forkbomb")
    r = box.run("./forkbomb", processes=30, **SMALL)
    assert r.outcome in (Outcome.TIME_LIMIT_CPU, Outcome.TIME_LIMIT_WALL)
    assert live_box_processes() == []


def test_python_fork_bomb(box):
    r = box.run("/usr/bin/python3", "-c", "import os\nwhile True:\n    try: os.fork()\n"
                "    except OSError: pass", processes=30, **SMALL)
    assert r.outcome in (Outcome.TIME_LIMIT_CPU, Outcome.TIME_LIMIT_WALL)
    assert live_box_processes() == []


def test_c_and_python_memory_bombs(box):
    box.install("membomb")
    assert box.run("./membomb", memory_kb=48_000, **SMALL).outcome is Outcome.MEMORY_LIMIT
    r = box.run("/usr/bin/python3", "-c", "a=[]\nwhile True: a.append(bytearray(1<<20))",
                memory_kb=48_000, **SMALL)
    assert r.outcome is Outcome.MEMORY_LIMIT


def test_one_gigabyte_to_stdout_is_cut_at_the_cap(box):
    r = box.run("/bin/dd", "if=/dev/zero", "bs=1M", "count=1024", output_bytes=1 << 20,
                **SMALL)
    assert r.outcome is Outcome.OUTPUT_LIMIT and len(r.stdout) == 1 << 20  # killed at the cap


def test_filling_the_box_stops_at_its_tmpfs_size_and_the_host_disk_is_untouched(box):
    host_before = shutil.disk_usage("/").used
    r = box.sh("for i in 1 2 3 4 5 6; do head -c 100000000 /dev/zero > f$i || exit 9; done",
               file_size_kb=200_000, memory_kb=512_000, cpu_time=10, wall_time=20)
    assert r.outcome is Outcome.NONZERO_EXIT and b"No space left" in r.stderr
    assert abs(shutil.disk_usage("/").used - host_before) < 50 << 20
    box.sandbox.box.reset()
    assert os.listdir(box.sandbox.box.path) == []  # the next submission starts empty


def test_inode_exhaustion_stops_at_the_box_limit(box):
    r = box.sh("for i in $(seq 10000); do : > f$i || exit 9; done", cpu_time=10, wall_time=20)
    assert r.outcome is Outcome.NONZERO_EXIT and b"No space left" in r.stderr


def test_filling_tmp_hits_its_size_limit(box):
    r = box.sh("head -c 200000000 /dev/zero > /tmp/x; echo rc=$?", file_size_kb=0,
               memory_kb=512_000)
    assert b"No space left" in r.stderr or r.outcome is Outcome.MEMORY_LIMIT


def test_one_huge_file_gets_sigxfsz(box):
    box.install("bigfile")
    r = box.run("./bigfile", "big", file_size_kb=10_000, **SMALL)
    assert r.signal == 25


def test_sleeping_forever_and_busy_loops_are_killed(box):
    assert box.run("/bin/sleep", "infinity", **SMALL).outcome is Outcome.TIME_LIMIT_WALL
    # a generous wall clock: on a loaded machine the loop must still reach its CPU limit first
    busy = box.sh("while :; do :; done", cpu_time=2, extra_cpu_time=0.5, wall_time=30)
    assert busy.outcome is Outcome.TIME_LIMIT_CPU


@pytest.mark.parametrize("script", [
    "(sleep 100 &) ; echo started",                                      # orphan
    "setsid sleep 100 & disown; echo started",                           # new session
    "( ( while :; do :; done ) & ) ; echo started",                      # double fork, burner
    "nohup sleep 100 >/dev/null 2>&1 & echo started",
])
def test_background_processes_do_not_survive_the_run(box, script):
    r = box.sh(script, **SMALL)
    assert r.outcome is Outcome.OK and r.stdout == b"started\n"
    assert live_box_processes() == []


def test_host_files_are_invisible(box):
    r = box.sh(f"cat /etc/shadow; ls /root /home /var/lib/postgresql {ROOT}; "
               "cat /proc/1/environ | tr '\\0' '\\n'; env")
    out = r.stdout + r.stderr
    assert b"root:" not in out and b"README" not in out
    assert SECRET.encode() not in out
    assert b"No such file or directory" in out


def test_the_project_directory_and_sys_are_absent(box):
    r = box.sh(f"test -e {ROOT} || echo no-project; test -e /sys/fs || echo no-sys")
    assert r.stdout == b"no-project\nno-sys\n"


class Listener:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                self.sock.accept()[0].close()
                self.accepted += 1
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_no_connection_reaches_the_host(box):
    box.install("net")
    listener = Listener()
    try:
        for port in (listener.port, 5432, 6379):
            r = box.run("./net", "127.0.0.1", str(port))
            assert b"CONNECTED" not in r.stdout and b"Permission denied" in r.stderr
            r = box.run("/usr/bin/python3", "-c", "import socket\ntry:\n"
                        f"    socket.create_connection(('127.0.0.1', {port}), 2)\n"
                        "    print('CONNECTED')\nexcept OSError as e:\n    print(e)")
            assert b"CONNECTED" not in r.stdout
    finally:
        listener.close()
    assert listener.accepted == 0


def test_escape_system_calls_are_refused(box):
    box.install("escape")
    lines = dict(line.split(" ", 1) for line in box.run("./escape").stdout.decode().splitlines())
    for call in ("ptrace", "mount", "unshare", "unshare_net", "keyctl", "bpf", "perf",
                 "io_uring"):
        assert lines[call].startswith("-1 "), (call, lines[call])
    assert lines["inet_socket"] == "-1 Permission denied"
    assert not lines["unix_socket"].startswith("-1")


def test_kill_all_cannot_reach_outside(box):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        r = box.sh("kill -9 -1; echo survived")
        assert sleeper.poll() is None
        assert r.outcome in (Outcome.OK, Outcome.SIGNALED)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_read_only_system_directories(box):
    r = box.sh("touch /usr/x; touch /etc/x; touch /x; mkdir /newdir")
    assert r.stderr.count(b"Read-only file system") == 4


def test_identity_capabilities_and_filters_inside(box):
    r = box.sh("id -u; hostname; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status")
    lines = r.stdout.decode().split("\n")
    assert lines[0] == str(box.sandbox.box.uid) and int(lines[0]) >= FIRST_UID
    assert lines[1] == "box"
    assert "CapEff:\t0000000000000000" in lines and "NoNewPrivs:\t1" in lines
    assert "Seccomp:\t2" in lines


def test_no_nested_user_namespace_and_no_privilege_gain(box):
    r = box.sh("unshare -U true && echo NESTED; su -c id 2>&1; sudo id 2>&1; true")
    assert b"NESTED" not in r.stdout and b"uid=0" not in r.stdout


def test_dev_shm_and_tmp_are_private_per_run(box):
    box.sh("echo x > /dev/shm/left; echo y > /tmp/left")
    r = box.sh("ls /dev/shm /tmp")
    assert b"left" not in r.stdout


def test_symlinks_planted_in_the_box_are_never_followed(box, tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("host data")
    canary_dir = tmp_path / "dir"
    canary_dir.mkdir()
    (canary_dir / "keep").write_text("keep")
    r = box.sh(f"ln -s {canary} link; ln -s {canary_dir} dirlink; ln -s /etc/shadow shadow; "
               "mkfifo fifo; echo planted")
    assert r.stdout == b"planted\n"
    b = box.sandbox.box
    assert b.read("link", 100) is None and b.read("shadow", 100) is None
    assert b.read("fifo", 100) is None  # not opened for reading: no blocking
    with pytest.raises(OSError):
        b.write("link", b"overwrite")  # O_EXCL|O_NOFOLLOW: refuses
    b.replace("link", b"replaced")  # removes the link itself, writes a fresh file
    assert canary.read_text() == "host data"
    b.reset()  # unmounts: nothing is walked
    assert canary.read_text() == "host data" and (canary_dir / "keep").exists()


def test_trusted_writes_refuse_paths(box):
    with pytest.raises(BoxError):
        box.sandbox.box.write("../escape", b"x")
