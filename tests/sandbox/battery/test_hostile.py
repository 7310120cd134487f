"""Hostile programs in C, Python and Bash. Each test asserts that the attack was contained (the
outcome a verdict needs) and that the host was unaffected (its processes, files, disk,
network listeners, and nothing of the run left behind)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

import judge
from judge.sandbox import BoxError, Outcome
from judge.sandbox.native import PIDS_OVERHEAD

from .conftest import (
    BOXES,
    SECRET,
    PidsPeak,
    box_cgroups,
    live_box_processes,
    settle,
)

PROJECT = Path(judge.__file__).resolve().parents[1]  # the project directory on the host
QUICK = {"cpu_time": 0.5, "extra_cpu_time": 0.2, "wall_time": 1.5}


def assert_nothing_left() -> None:
    """No process of the box uids on the host, and the run's cgroup is gone."""
    assert live_box_processes() == []
    assert box_cgroups() == []


# -- process bombs ----------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    pytest.param(("/bin/bash", "-c", ":(){ :|:& };:; sleep 1; echo main-survived"), id="bash"),
    pytest.param(("./bomb", "fork"), id="c"),
    pytest.param(("./bomb", "thread"), id="c-threads"),
    pytest.param(("/usr/bin/python3", "-c", "import os\nwhile True:\n    try:\n"
                  "        os.fork()\n    except OSError:\n        pass"), id="python"),
])
def test_fork_and_thread_bombs_are_held_at_the_pids_limit_and_leave_nothing(box, argv):
    box.install("bomb")
    settle()
    with PidsPeak(box.box.uid) as pids:
        r = box.run(*argv, processes=20, cpu_time=1, extra_cpu_time=0.2, wall_time=1.5)
    assert r.outcome is not Outcome.INTERNAL_ERROR, r.message
    assert pids.over == [], "the run had more tasks than its pids limit"
    assert pids.peak <= 20 + PIDS_OVERHEAD
    assert pids.peak >= 20, "the bomb never reached the limit (did it run?)"
    if argv[0] == "/bin/bash":  # the shell survives its bomb: bash retries failed forks
        assert b"fork: retry: Resource temporarily unavailable" in r.stderr
    else:
        assert r.outcome in (Outcome.TIME_LIMIT_CPU, Outcome.TIME_LIMIT_WALL)
    assert_nothing_left()
    assert subprocess.run(["/bin/true"]).returncode == 0  # the host can still fork


# -- memory -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ("./mem", "bomb"),
    ("/usr/bin/python3", "-c", "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))"),
    ("/bin/bash", "-c", "x=y; while :; do x=$x$x; done"),
], ids=["c", "python", "bash"])
def test_memory_bombs_are_oom_killed_at_the_limit(box, argv):
    box.install("mem")
    r = box.run(*argv, memory_kb=40_000, **QUICK)
    assert r.outcome is Outcome.MEMORY_LIMIT
    assert r.memory_kb <= 40_000
    assert_nothing_left()


def test_memory_hidden_in_dev_shm_counts_against_the_memory_limit(box):
    r = box.sh("head -c 30000000 /dev/zero > /dev/shm/hidden; sleep 5", memory_kb=24_000,
               file_size_kb=0, **QUICK)
    assert r.outcome is Outcome.MEMORY_LIMIT


# -- output and files -------------------------------------------------------------------------

def test_one_gigabyte_to_stdout_is_cut_at_the_cap_quickly(box):
    r = box.c("flood", "1", "1024", output_bytes=1 << 20, cpu_time=5, wall_time=10)
    assert r.outcome is Outcome.OUTPUT_LIMIT
    assert len(r.stdout) == 1 << 20
    assert r.wall_time < 2  # killed at the cap, not after writing the whole gigabyte


def test_filling_the_box_stops_at_its_size_and_not_on_the_host_disk(box):
    host_before = shutil.disk_usage(BOXES).used
    r = box.run("/bin/dd", "if=/dev/zero", "of=fill", "bs=1M", file_size_kb=0,
                memory_kb=256_000, wall_time=10)
    assert (r.outcome, r.exit_code) == (Outcome.NONZERO_EXIT, 1)
    assert b"No space left on device" in r.stderr
    box_fs = shutil.disk_usage(box.path)
    assert box_fs.free == 0 and box_fs.total == 64 << 20  # the box's own tmpfs is full ...
    assert abs(shutil.disk_usage(BOXES).used - host_before) < 32 << 20  # ... the disk is not
    box.box.reset()
    assert os.listdir(box.path) == [] and shutil.disk_usage(box.path).used == 0
    assert box.sh("ls -A | wc -l; df --output=used -k . | tail -1").stdout.split() == [b"0", b"0"]


def test_inode_exhaustion_stops_at_the_box_limit(box):
    r = box.sh("for i in $(seq 5000); do : > f$i || { echo stopped at $i; exit 9; }; done",
               cpu_time=5, wall_time=10)
    assert (r.outcome, r.exit_code) == (Outcome.NONZERO_EXIT, 9)
    assert b"No space left on device" in r.stderr
    assert 1000 < int(r.stdout.split()[-1]) < 5000  # the box's 2048 inodes, not the disk's
    box.box.reset()
    assert os.listdir(box.path) == []
    assert box.sh("touch new && ls").stdout == b"new\n"  # the next run has a usable box


@pytest.mark.parametrize("where", ["/tmp", "/dev/shm"])
def test_filling_tmp_stops_at_its_size_and_stays_private(box, where):
    token = SECRET[-8:]
    r = box.sh(f"dd if=/dev/zero of={where}/{token} bs=1M; echo rc=$?", file_size_kb=0,
               memory_kb=128_000, wall_time=10)
    assert r.outcome is Outcome.OK and r.stdout == b"rc=1\n"
    assert b"No space left on device" in r.stderr
    assert b"33554432 bytes" in r.stderr  # the 32 MB tmpfs of this test session
    assert not Path(where, token).exists()  # the host's directory got nothing


def test_one_huge_file_is_stopped_by_sigxfsz_at_the_file_size_limit(box):
    r = box.c("bigfile", "huge", file_size_kb=2048)
    assert (r.outcome, r.signal) == (Outcome.SIGNALED, signal.SIGXFSZ)
    assert (box.path / "huge").stat().st_size == 2048 * 1024


def test_python_writing_a_huge_file_gets_file_too_large(box):
    # Python ignores SIGXFSZ, so the write fails with EFBIG instead
    r = box.py("open('huge', 'wb').write(b'x' * (10 << 20))", file_size_kb=1024)
    assert r.outcome is Outcome.NONZERO_EXIT and b"File too large" in r.stderr
    assert (box.path / "huge").stat().st_size == 1024 * 1024


def test_resource_limits_cannot_be_raised_from_inside(box):
    r = box.sh("ulimit -f unlimited || echo refused; ulimit -u 100000 || echo refused;"
               "ulimit -s unlimited || echo refused; head -c 3000000 /dev/zero > f; echo $?",
               file_size_kb=1024)
    assert r.stdout == b"refused\nrefused\nrefused\n153\n"  # 128 + SIGXFSZ for head


# -- time -------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ("/bin/sleep", "infinity"),
    ("/usr/bin/python3", "-c", "import time; time.sleep(10 ** 6)"),
    ("/bin/bash", "-c", "mkfifo f; read line < f"),  # blocked opening a FIFO
], ids=["sleep", "python", "bash"])
def test_sleeping_forever_is_killed_at_the_wall_limit(box, argv):
    r = box.run(*argv, **QUICK)
    assert r.outcome is Outcome.TIME_LIMIT_WALL
    assert_nothing_left()


@pytest.mark.parametrize("argv", [
    ("./burn", "-1"),
    ("/usr/bin/python3", "-c", "while True: pass"),
    ("/bin/bash", "-c", "while :; do :; done"),
], ids=["c", "python", "bash"])
def test_busy_loops_are_killed_at_the_cpu_limit(box, argv):
    box.install("burn")
    r = box.run(*argv, cpu_time=0.5, extra_cpu_time=0.2, wall_time=10)
    assert r.outcome is Outcome.TIME_LIMIT_CPU
    assert 0.7 <= r.cpu_time < 0.9
    assert_nothing_left()


# -- processes that try to outlive the run ----------------------------------------------------

@pytest.mark.parametrize("script", [
    "(sleep 1000 &); echo started",                                     # orphaned sleeper
    "setsid sleep 1000 < /dev/null > /dev/null 2>&1 & echo started",   # own session
    "( (while :; do :; done) & ) ; echo started",                      # double-forked burner
    "nohup sleep 1000 > /dev/null 2>&1 & disown; echo started",        # nohup + disown
], ids=["orphan", "setsid", "double-fork-burner", "nohup"])
def test_background_processes_do_not_survive_the_run(box, script):
    r = box.sh(script, **QUICK)
    assert (r.outcome, r.stdout) == (Outcome.OK, b"started\n")  # the run did not wait for them
    assert_nothing_left()


def test_daemonized_burner_and_sleeper_are_killed_with_the_run(box):
    r = box.c("daemon", **QUICK)
    assert r.outcome is Outcome.OK
    assert len(r.stdout.split()) == 2  # both detached children were running
    assert_nothing_left()


# -- host files and secrets -------------------------------------------------------------------

def test_host_files_and_the_supervisors_environment_are_out_of_reach(box):
    r = box.sh(f"""
        cat /etc/shadow; cat /etc/hostname; ls /root /home /work /var {PROJECT}
        cat {PROJECT}/README.md; cat /proc/1/environ /proc/self/environ /proc/*/environ
        env; cat /proc/1/cmdline; ls /sys; true""", stderr_to_stdout=True)
    out = r.stdout
    assert SECRET.encode() not in out
    for path in ("/etc/shadow", "/etc/hostname", "/root", "/home", "/work", "/var",
                 str(PROJECT), "/sys"):
        assert f"{path}': No such file or directory".encode() in out \
            or f"{path}: No such file or directory".encode() in out, path
    assert b"root:" not in out.replace(b"root:x:0:0", b"")  # no shadow entry


def test_python_cannot_find_the_secret_anywhere_it_can_read(box):
    # the secret is passed reversed: the program's own command line must not contain it
    code = f"""
import os
secret = {SECRET[::-1].encode()!r}[::-1]
found = []
for top in ("/proc", "/tmp", "/box", "/etc", "/dev/shm"):
    for root, dirs, files in os.walk(top):
        if root.startswith("/proc/") and root.count("/") > 3:
            dirs[:] = []
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as f:
                    if secret in f.read(1 << 20):
                        found.append(os.path.join(root, name))
            except OSError:
                pass
print("found", found)
"""
    r = box.py(code, wall_time=10, cpu_time=5)
    assert r.stdout == b"found []\n", r.stderr


def test_only_the_sandboxs_own_processes_are_visible(box):
    r = box.sh("ls /proc | grep -E '^[0-9]+$'")
    pids = [int(p) for p in r.stdout.split()]
    assert pids and max(pids) < 10  # its own pid namespace: no host process to look at
    r = box.sh(f"kill -0 {os.getpid()} || echo invisible")
    assert b"invisible" in r.stdout


# -- network ----------------------------------------------------------------------------------

class Listener:
    """A TCP listener on the host's loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.accept()[0].close()
                self.accepted += 1
            except TimeoutError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def test_tcp_to_host_services_and_a_host_listener_is_refused_from_c(box, listener):
    for port in (listener.port, 5432, 6379):
        assert box.c("net", "tcp4", "127.0.0.1", str(port)).stdout == b"socket EACCES\n"
        assert box.c("net", "tcp6", "::1", str(port)).stdout == b"socket EACCES\n"
        assert box.c("net", "udp4", "127.0.0.1", str(port)).stdout == b"socket EACCES\n"
    assert listener.accepted == 0


def test_tcp_to_host_services_and_a_host_listener_is_refused_from_python(box, listener):
    code = """
import socket, sys
for port in map(int, sys.argv[1:]):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2)
        print("CONNECTED", port)
    except OSError as e:
        print(type(e).__name__, e.errno)
"""
    r = box.run("/usr/bin/python3", "-c", code, str(listener.port), "5432", "6379")
    assert r.stdout == b"PermissionError 13\n" * 3
    assert listener.accepted == 0


def test_bash_dev_tcp_cannot_reach_the_host(box, listener):
    r = box.sh(f"echo hi > /dev/tcp/127.0.0.1/{listener.port} && echo CONNECTED")
    assert b"CONNECTED" not in r.stdout and b"Permission denied" in r.stderr
    assert listener.accepted == 0


def test_host_unix_sockets_are_unreachable_abstract_and_on_disk(box):
    name = "\0judge-test-" + SECRET[-8:]
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(name)
    server.listen()
    server.setblocking(False)
    try:
        code = f"""
import socket
for address in ({name!r}, "/var/run/postgresql/.s.PGSQL.5432", "/run/redis/redis.sock"):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(address)
        print("CONNECTED")
    except OSError as e:
        print(type(e).__name__)
"""
        r = box.py(code)
        assert r.stdout == b"ConnectionRefusedError\nFileNotFoundError\nFileNotFoundError\n"
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected to the host's abstract socket
    finally:
        server.close()


def test_only_loopback_exists_in_the_sandboxs_network(box):
    r = box.sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1")
    assert r.stdout.split() == [b"lo"]


# -- system calls and privileges --------------------------------------------------------------

def test_escape_system_calls_are_refused(box):
    r = box.c("syscalls")
    assert r.outcome is Outcome.OK
    results = dict(line.split() for line in r.stdout.decode().splitlines())
    eperm = str(1)
    for call in ("ptrace_traceme", "mount", "umount", "unshare_user", "unshare_net",
                 "unshare_mount", "setns", "chroot", "keyctl", "add_key", "bpf",
                 "perf_event_open", "userfaultfd", "io_uring_setup", "kexec_load",
                 "init_module", "reboot", "sethostname", "clock_settime"):
        assert results[call] == eperm, (call, results[call])
    # clone(CLONE_NEWUSER) passes seccomp; the sandbox allows no nested user namespace
    assert results["clone_newuser"] != "ok" and results["clone3_newuser"] != "ok"
    assert results["socket_packet"] == results["socket_netlink"] == "13"  # EACCES
    assert results["socket_unix"] == "ok"  # runtimes need socketpairs


def test_kill_minus_one_cannot_reach_the_host(box):
    uid = box.box.uid

    def as_box_uid() -> None:
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)

    root_sleeper = subprocess.Popen(["/bin/sleep", "60"])
    same_uid_sleeper = subprocess.Popen(["/bin/sleep", "60"], preexec_fn=as_box_uid)
    try:
        r = box.sh(f"kill -9 -1; kill -9 {root_sleeper.pid} {same_uid_sleeper.pid}; "
                   "echo survived")
        assert r.stdout == b"survived\n" and b"No such process" in r.stderr
        assert root_sleeper.poll() is None and same_uid_sleeper.poll() is None
    finally:
        for proc in (root_sleeper, same_uid_sleeper):
            proc.kill()
            proc.wait()
    assert live_box_processes() == []


def test_identity_capabilities_and_filters_inside(box):
    r = box.sh("id -u; hostname; grep -E '^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):' "
               "/proc/self/status")
    lines = r.stdout.decode().splitlines()
    assert lines[0] == str(box.box.uid) and lines[0] != "0"
    assert lines[1] == "box"
    status = dict(line.split(":\t") for line in lines[2:])
    assert status == {"CapInh": "0" * 16, "CapPrm": "0" * 16, "CapEff": "0" * 16,
                      "CapBnd": "0" * 16, "CapAmb": "0" * 16, "NoNewPrivs": "1",
                      "Seccomp": "2"}


def test_hostname_cannot_be_changed(box):
    host = socket.gethostname()
    r = box.sh("hostname evil; hostname")
    assert r.stdout == b"box\n"
    assert socket.gethostname() == host


def test_nested_user_namespaces_cannot_be_created(box):
    r = box.sh("unshare -U id || echo refused; unshare -Ur id || echo refused")
    assert r.stdout == b"refused\nrefused\n"


def test_setuid_binaries_give_no_privileges(box):
    r = box.sh("su -c id root < /dev/null; sudo -n id; mount -t tmpfs none /tmp; "
               "ping -c1 127.0.0.1; true", stderr_to_stdout=True, wall_time=5)
    assert b"uid=0" not in r.stdout
    assert box.sh("findmnt -n /tmp -o FSTYPE,SIZE").stdout.split()[1] == b"32M"


def test_a_setuid_root_binary_planted_by_root_in_the_box_stays_unprivileged(box):
    box.install("ids")
    os.chown(box.path / "ids", 0, 0)
    os.chmod(box.path / "ids", 0o4755)
    assert stat.S_IMODE((box.path / "ids").stat().st_mode) == 0o4755
    uid = box.box.uid
    assert box.run("./ids").stdout == f"{uid} {uid} {uid} {uid}\n".encode()


def test_no_controlling_terminal_and_no_inherited_file_descriptors(box):
    r = box.py("import os\nprint(sorted(os.listdir('/proc/self/fd')))\n"
               "try:\n    os.open('/dev/tty', os.O_RDWR)\nexcept OSError as e:\n"
               "    print(e.errno)")
    assert r.stdout == b"['0', '1', '2', '3']\n6\n"  # 3 is listdir's own; ENXIO for the tty


# -- the file system --------------------------------------------------------------------------

def test_system_directories_are_read_only(box):
    r = box.sh("for p in /usr/x /etc/x /x /bin/x /lib/x; do touch $p; done; "
               "echo evil > /proc/sys/kernel/hostname; mknod dev c 1 3; true")
    assert r.stderr.count(b"Read-only file system") == 5
    assert b"/proc/sys/kernel/hostname: Permission denied" in r.stderr
    assert socket.gethostname() != "evil"
    assert b"mknod: dev: Operation not permitted" in r.stderr


def test_dev_shm_and_tmp_are_private_to_each_run(box):
    token = "run-" + SECRET[-8:]
    assert box.sh(f"echo x > /dev/shm/{token} && echo x > /tmp/{token}").ok
    r = box.sh(f"ls /dev/shm /tmp; cat /dev/shm/{token} /tmp/{token}")
    assert token.encode() not in r.stdout
    assert not Path("/dev/shm", token).exists() and not Path("/tmp", token).exists()


@pytest.fixture
def canaries(tmp_path):
    """Host files a planted symlink will point at, with their content and metadata."""
    canary_file = tmp_path / "canary.txt"
    canary_file.write_text("host data")
    canary_dir = tmp_path / "canary-dir"
    canary_dir.mkdir()
    (canary_dir / "keep").write_text("keep me")
    watched = [canary_file, canary_dir, canary_dir / "keep", Path("/etc/shadow"),
               Path("/root"), PROJECT, PROJECT / "README.md"]

    def snapshot():
        return {p: (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime_ns,
                    p.read_bytes() if p.is_file() else sorted(os.listdir(p)))
                for p in watched}

    before = snapshot()
    yield {"file": canary_file, "dir": canary_dir}
    assert snapshot() == before


def plant_symlinks(box, canaries) -> dict[str, str]:
    links = {"link_file": canaries["file"], "link_dir": canaries["dir"],
             "shadow": "/etc/shadow", "root": "/root", "project": PROJECT,
             "readme": PROJECT / "README.md"}
    script = "; ".join(f"ln -s {target} {name}" for name, target in links.items())
    assert box.sh(script + "; ls").stdout.split() == sorted(n.encode() for n in links)
    return {name: str(target) for name, target in links.items()}


def test_box_read_never_follows_a_planted_symlink(box, canaries):
    for name in plant_symlinks(box, canaries):
        assert box.box.exists(name)
        assert box.box.read(name, 1 << 20) is None


def test_box_write_refuses_a_planted_symlink_and_replace_removes_only_the_link(box, canaries):
    links = plant_symlinks(box, canaries)
    for name in links:
        with pytest.raises(OSError):
            box.box.write(name, b"overwritten")
    box.box.replace("link_file", b"fresh")
    assert box.box.read("link_file", 100) == b"fresh"
    assert not (box.path / "link_file").is_symlink()


def test_box_snapshot_skips_planted_symlinks(box, canaries):
    plant_symlinks(box, canaries)
    assert box.sh("mkdir sub && ln -s /etc sub/etc && echo data > sub/file").ok
    assert box.box.snapshot(1 << 20) == [("sub", 0o755, None), ("sub/file", 0o644, b"data\n")]


def test_box_reset_does_not_follow_planted_symlinks(box, canaries):
    plant_symlinks(box, canaries)
    box.box.reset()
    assert os.listdir(box.path) == []


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "sub/file", "", ".", ".."])
def test_trusted_writes_take_plain_names_only(box, name):
    with pytest.raises(BoxError):
        box.box.write(name, b"x")
    assert not Path("/var/lib/judge/escape").exists()


def test_a_planted_fifo_is_not_opened_and_does_not_block(box):
    assert box.sh("mkfifo fifo && python3 -c \"import socket; "
                  "socket.socket(socket.AF_UNIX).bind('sock')\" && ls").stdout == b"fifo\nsock\n"
    done = {}

    def read_them():
        done["fifo"] = box.box.read("fifo", 100)
        done["sock"] = box.box.read("sock", 100)
        done["snapshot"] = box.box.snapshot(1 << 20)

    reader = threading.Thread(target=read_them, daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive(), "reading a FIFO planted in the box blocked"
    assert done == {"fifo": None, "sock": None, "snapshot": []}
