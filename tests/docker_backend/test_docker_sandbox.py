"""The same verdicts as the native backend's tests, from real programs in real containers."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading

import docker.errors

from judge.config import Config
from judge.contract.languages import LanguageCatalog
from judge.contract.statuses import Status
from judge.judging.pipeline import Pipeline
from judge.judging.selftest import submission_row
from judge.sandbox import Outcome
from judge.sandbox.docker_backend import LABEL, OWNER_LABEL

SMALL = {"cpu_time": 2, "extra_cpu_time": 0.5, "wall_time": 4}
SEGFAULT_C = b"int main(void) { volatile int *p = 0; return *p; }\n"


def judge(sandbox, language_id: int, source: str, stdin: str | None = None, **row):
    language = LanguageCatalog.load().get(language_id)
    sandbox.select_image(language.image)
    submission = {**submission_row(Config(), source=source, stdin=stdin), **row}
    return Pipeline(sandbox, Config()).judge(submission, language)


def test_python_hello_world_reads_stdin_through_the_pipeline(box):
    values = judge(box.sandbox, 71, 'print("hello, " + input())', "world",
                   expected_output=b"hello, world\n")
    assert values["status_id"] == Status.ACCEPTED, values
    assert values["stdout"] == b"hello, world\n"
    assert values["time"] > 0 and values["memory"] > 0


def test_c_is_compiled_in_one_container_and_run_in_another(box):
    values = judge(box.sandbox, 50, '#include <stdio.h>\nint main(void) { char s[64]; '
                   'scanf("%63s", s); printf("hello, %s\\n", s); return 0; }\n', "world")
    assert values["status_id"] == Status.ACCEPTED, values
    assert values["stdout"] == b"hello, world\n"
    assert box.sandbox.box.exists("a.out")  # the compiled program came back into the box


def test_every_run_starts_from_the_compiled_box(box):
    values = judge(box.sandbox, 71, "import os\nprint(os.listdir('.'))\nopen('x', 'w')",
                   number_of_runs=3)
    assert values["status_id"] == Status.ACCEPTED, values
    assert b"'x'" not in values["stdout"]  # the first run's file is gone for the last


def test_exit_status_zero_and_stderr_apart_or_merged(box):
    r = box.sh("echo out; echo err >&2")
    assert (r.outcome, r.exit_code, r.stdout, r.stderr) == (Outcome.OK, 0, b"out\n", b"err\n")
    r = box.sh("echo out; echo err >&2", stderr_to_stdout=True)
    assert (r.stdout, r.stderr) == (b"out\nerr\n", b"")


def test_nonzero_exit_status_is_reported_with_judge0s_message(box):
    r = box.sh("exit 42")
    assert (r.outcome, r.exit_code, r.message) == (Outcome.NONZERO_EXIT, 42,
                                                   "Exited with error status 42")


def test_segfault_is_reported_as_signal_11(box):
    box.sandbox.box.write("segv.c", SEGFAULT_C)
    compiled = box.run("/usr/bin/gcc", "-o", "segv", "segv.c", **SMALL)
    assert compiled.outcome is Outcome.OK, compiled
    r = box.run("./segv")
    assert (r.outcome, r.signal, r.exit_code) == (Outcome.SIGNALED, signal.SIGSEGV, None)
    assert r.message == "Caught fatal signal 11" and r.stderr == b""


def test_cpu_time_limit(box):
    r = box.py("while True: pass", cpu_time=1, extra_cpu_time=0.5, wall_time=10)
    assert r.outcome is Outcome.TIME_LIMIT_CPU and r.message == "Time limit exceeded"
    assert r.cpu_time > 1


def test_wall_time_limit(box):
    r = box.run("/bin/sleep", "30", wall_time=1)
    assert r.outcome is Outcome.TIME_LIMIT_WALL
    assert r.message == "Time limit exceeded (wall clock)" and r.wall_time >= 1


def test_memory_limit(box):
    r = box.py("a = []\nwhile True: a.append(bytearray(1 << 20))", memory_kb=48_000, **SMALL)
    assert r.outcome is Outcome.MEMORY_LIMIT and r.message == "Memory limit exceeded"
    assert r.memory_kb > 40_000


def test_output_limit_on_stdout_and_stderr(box):
    r = box.run("/usr/bin/yes", output_bytes=100_000, **SMALL)
    assert r.outcome is Outcome.OUTPUT_LIMIT and len(r.stdout) == 100_000
    r = box.sh("yes >&2", output_bytes=50_000, **SMALL)
    assert r.outcome is Outcome.OUTPUT_LIMIT and len(r.stderr) == 50_000


def test_one_gigabyte_to_stdout_is_cut_at_the_cap(box):
    r = box.run("/bin/dd", "if=/dev/zero", "bs=1M", "count=1024", output_bytes=1 << 20,
                **SMALL)
    assert r.outcome is Outcome.OUTPUT_LIMIT and len(r.stdout) == 1 << 20


def test_fork_bomb_is_stopped_by_the_pids_limit(box):
    r = box.sh(":(){ :|:& };:; sleep 1; echo end", processes=30, **SMALL)
    assert r.outcome in (Outcome.OK, Outcome.TIME_LIMIT_WALL, Outcome.NONZERO_EXIT)
    assert b"retry" in r.stderr or b"Resource temporarily unavailable" in r.stderr


def test_python_fork_bomb_is_killed(box):
    r = box.py("import os\nwhile True:\n    try: os.fork()\n    except OSError: pass",
               processes=30, **SMALL)
    assert r.outcome in (Outcome.TIME_LIMIT_CPU, Outcome.TIME_LIMIT_WALL)


def _host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()
            if not line.split()[3].startswith("127.")]


def test_no_network_a_host_listener_is_unreachable(box):
    listener = socket.create_server(("0.0.0.0", 0))
    port = listener.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        try:
            accepted.append(listener.accept())
        except OSError:
            pass  # closed at the end of the test

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    addresses = _host_addresses()
    try:
        with socket.create_connection((addresses[0], port), timeout=2):
            pass  # the listener is reachable from the host itself
        thread.join(2)
        assert accepted
        accepted.clear()
        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        r = box.run("/usr/bin/python3", "-c",
                    "import os, socket, sys\n"
                    "print(sorted(os.listdir('/sys/class/net')))\n"
                    "for a in sys.argv[1:]:\n"
                    "    try:\n"
                    f"        socket.create_connection((a, {port}), timeout=2)\n"
                    "        print('CONNECTED')\n"
                    "    except OSError as e: print(a, e)\n",
                    *addresses, **SMALL)
        assert r.outcome is Outcome.OK, r
        assert r.stdout.startswith(b"['lo']\n") and b"CONNECTED" not in r.stdout
        assert not accepted
    finally:
        listener.close()


def test_root_is_read_only_and_the_box_and_tmp_are_writable(box):
    r = box.sh("touch /usr/x /etc/x /x 2>&1 | grep -c 'Read-only file system'; "
               "touch /box/ok /tmp/ok && echo writable")
    assert r.stdout == b"3\nwritable\n", r


def test_programs_run_as_an_unprivileged_user_without_capabilities(box):
    r = box.sh("id -u; id -g; grep CapEff /proc/self/status; env")
    lines = r.stdout.decode().splitlines()
    assert lines[:3] == ["65534", "65534", "CapEff:\t0000000000000000"], r
    assert not any(line.startswith("JUDGE_") for line in lines)  # the wrapper's secrets


def test_the_wrapper_cannot_be_signalled_or_its_report_forged(box):
    r = box.sh("kill -9 1; echo '<<judge 0>>'; echo rc 0 >&2; exit 7")
    assert (r.outcome, r.exit_code) == (Outcome.NONZERO_EXIT, 7)


def test_files_come_back_into_the_box_but_links_and_fifos_do_not(box):
    r = box.sh("echo data > f; mkdir d; echo x > d/g; ln -s /etc/passwd link; mkfifo fifo")
    assert r.outcome is Outcome.OK, r
    stored = box.sandbox.box
    assert stored.read("f", 100) == b"data\n" and stored.read("d/g", 100) == b"x\n"
    assert not stored.exists("link") and not stored.exists("fifo")


def test_stdin_and_environment(box):
    assert box.run("/bin/cat", stdin=b"\x00\xff bytes").stdout == b"\x00\xff bytes"
    assert box.run("/bin/cat").stdout == b""
    r = box.run("/usr/bin/env", env={"EXTRA": "1"})
    assert sorted(r.stdout.decode().split()) == [
        "EXTRA=1", "HOME=/tmp", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
        "PATH=/usr/local/bin:/usr/bin:/bin", "PWD=/box"]


def test_sweep_removes_the_containers_of_dead_owners_only(box, engine):
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid names no live process now
    api = box.sandbox.api
    gone, kept = f"{socket.gethostname()}:{dead.pid}", "another-host:1"
    ids = {owner: api.create_container(box.sandbox.settings.image, command=["true"],
                                       labels={LABEL: "1", OWNER_LABEL: owner})["Id"]
           for owner in (gone, kept)}
    try:
        box.sandbox.sweep()
        left = {c["Id"] for c in api.containers(all=True, filters={"label": LABEL})}
        assert ids[gone] not in left and ids[kept] in left
    finally:
        for container in ids.values():
            try:
                api.remove_container(container, force=True)
            except docker.errors.NotFound:
                pass
