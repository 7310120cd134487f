"""Nothing of one submission reaches another, through the HTTP API only: an engine with a single
worker, so that every submission lands in the same warm sandbox session (the tests check it: the
session's /tmp keeps its device number). User A plants wherever a program can write, user B's
next submission must find nothing and keep its own stdin, stdout, stderr and fds; files a
compile step leaves cannot lift a run past its memory limit; a tree deeper than any stack gets
a verdict, never Internal Error (13)."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator

import pytest

from .conftest import Engine, running_engine

BASH, PY, JS, MULTI = 46, 71, 63, 89
SESSION = "stat -c 'session=%d' /tmp"  # the tmpfs of one warm session keeps its device number


@pytest.fixture(scope="module")
def lone_engine(database_url: str, storage) -> Iterator[Engine]:
    with running_engine(database_url, 9, {}, workers=1, schema="cross_user") as engine:
        yield engine


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def submit(engine: Engine, language: int, source: str, **extra) -> dict:
    body = {"language_id": language, "source_code": b64(source), **extra}
    for name in ("stdin", "expected_output", "additional_files"):
        if isinstance(body.get(name), str) and name != "additional_files":
            body[name] = b64(body[name])
    result = engine.run(body, base64_encoded="true",
                        fields="stdout,stderr,status,memory,message,compile_output")
    for name in ("stdout", "stderr", "compile_output", "message"):
        result[name] = base64.b64decode(result[name] or "").decode(errors="replace")
    return result


def session_of(engine: Engine) -> str:
    return submit(engine, BASH, SESSION)["stdout"]


PLANTS = {
    "files": ("for d in /dev /dev/shm /tmp /box; do echo secret > $d/x; done",
              BASH, "cat /dev/x /dev/shm/x /tmp/x /box/x 2>&1 | grep -c 'No such'; "
                    "ls -A /dev/shm /tmp", "", "4\n/dev/shm:\n\n/tmp:\n"),
    "stdin": ("rm -f /dev/stdin && echo ATTACKER > /dev/stdin",
              PY, "print(open('/dev/stdin').read(), end='')", "mine\n", "mine\n"),
    "stdin-node": ("rm -f /dev/stdin && echo ATTACKER > /dev/stdin",
                   JS, "process.stdout.write(require('fs').readFileSync('/dev/stdin'))",
                   "mine\n", "mine\n"),
    "stdout": ("rm -f /dev/stdout /dev/stderr; touch /dev/stdout /dev/stderr; "
               "chmod 666 /dev/stdout /dev/stderr",
               BASH, "echo S > /dev/stdout; echo E > /dev/stderr", "", "S\n"),
    "fd": ("rm -f /dev/fd; mkdir -p /dev/fd && echo stolen > /dev/fd/63",
           BASH, "cat <(echo data)", "", "data\n"),
    "xattrs": ("for d in /dev /dev/shm /tmp /box; do python3 -c \"import os; "
               "os.setxattr('$d', 'user.s', b'A')\" 2>/dev/null; done",
               PY, "import os\nprint([os.listxattr(d) for d in ('/dev', '/dev/shm', '/tmp', "
                   "'/box')])", "", "[[], [], [], []]\n"),
}


@pytest.mark.parametrize("name", list(PLANTS))
def test_what_user_a_plants_never_reaches_user_b(lone_engine, name):
    plant, language, victim, stdin, expected = PLANTS[name]
    before = session_of(lone_engine)
    submit(lone_engine, BASH, plant)
    b = submit(lone_engine, language, victim, stdin=stdin,
               cpu_time_limit=15, wall_time_limit=20)  # room for an emulated CPU
    assert session_of(lone_engine) == before  # one warm session served A and B
    assert (b["status"]["id"], b["stdout"]) == (3, expected), b
    assert b["stderr"] == ("E\n" if name == "stdout" else ""), b


def test_memory_user_a_filled_is_free_for_user_b(lone_engine):
    fill = ("for d in /dev /dev/shm /tmp /box; do for i in $(seq 10); do "
            "head -c 4000000 /dev/zero > $d/fill$i; done; done 2>/dev/null; "
            "cat /dev/shm/fill* /tmp/fill* /box/fill* | wc -c")
    for _ in range(3):
        a = submit(lone_engine, BASH, fill, memory_limit=128000, max_file_size=4096,
                   cpu_time_limit=15, wall_time_limit=20)  # room for an emulated CPU
        assert a["stdout"] == "120000000\n", a
    b = submit(lone_engine, PY, "blob = bytearray(50 << 20)\nprint('fits')",
               memory_limit=64000)
    assert (b["status"]["id"], b["stdout"]) == (3, "fits\n"), b


def zip_of(entries: dict[str, str]) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return b64(buf.getvalue())


MAP_AND_TOUCH = ("import glob, mmap\nfor name in glob.glob('blob*'):\n"
                 "    with open(name, 'r+b') as f:\n"
                 "        m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED); m[:] = b'x' * len(m)\n"
                 "print('touched')\n")


def test_files_a_compile_step_made_cannot_lift_the_run_past_its_memory_limit(lone_engine):
    project = zip_of({
        "compile.sh": "for i in $(seq 50); do head -c 4194304 /dev/zero > blob$i; done\n",
        "run.sh": "python3 touch.py\n", "touch.py": MAP_AND_TOUCH})
    r = submit(lone_engine, MULTI, "", additional_files=project, memory_limit=16000)
    assert r["status"]["id"] == 12 and r["message"] == "Memory limit exceeded", r
    assert "touched" not in r["stdout"] and r["memory"] >= 200 * 1024


def test_files_a_compile_step_made_count_in_the_runs_memory(lone_engine):
    project = zip_of({
        "compile.sh": "for i in $(seq 5); do head -c 4194304 /dev/zero > blob$i; done\n",
        "run.sh": "python3 touch.py\n", "touch.py": MAP_AND_TOUCH})
    r = submit(lone_engine, MULTI, "", additional_files=project, memory_limit=64000)
    assert (r["status"]["id"], r["stdout"]) == (3, "touched\n"), r
    assert r["memory"] >= 20 * 1024  # the 20 MB it found in its box


def test_a_directory_tree_deeper_than_any_stack_gets_a_verdict_not_an_internal_error(
        lone_engine):
    deep = "d/" * 1100
    r = submit(lone_engine, BASH, f"cat {deep}f", number_of_runs=2,
               additional_files=zip_of({f"{deep}f": "bottom\n"}))
    assert (r["status"]["id"], r["stdout"]) == (3, "bottom\n"), r


def test_host_details_stay_hidden(lone_engine):
    r = submit(lone_engine, BASH, "cat /proc/cmdline /proc/keys 2>/dev/null | wc -c; "
                                  "grep -c /var/lib /proc/self/mountinfo; df --output=size /dev "
                                  "| tail -1")
    assert r["stdout"].split() == ["0", "0", "64"], r
