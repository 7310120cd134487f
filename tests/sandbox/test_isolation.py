"""Nothing of one submission reaches another (DESIGN: "Nothing of one submission reaches
another"). A warm session serves many users in turn, so these tests play two of them on one
session: user A plants something wherever a program can write, then the session is readied for
the next submission (`NativeSandbox.prepare`, as the worker does) and user B's program must find
the sandbox as new: nothing of A's data, no redirected stdin/stdout/stderr/fds, no memory A left
behind. The list of places a program can write is not assumed: it is enumerated from inside a
box and must be exactly what the session resets (bwrap.SESSION_SCRATCH)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from judge.sandbox import (
    BoxError,
    Limits,
    NativeSandbox,
    Outcome,
    RunSpec,
    SandboxSettings,
    bwrap,
    open_sandbox,
)

from .conftest import BOXES, FIRST_UID

SMALL = {"cpu_time": 2, "extra_cpu_time": 0.5, "wall_time": 5}
# From inside a box: every mount, whether it is read-write, and its file system type.
MOUNTS = r"""
import os
for line in open('/proc/self/mountinfo'):
    fields = line.split()
    dash = fields.index('-')
    print(fields[4], fields[5].split(',')[0], fields[dash + 1])
"""


def next_submission(box) -> None:
    """What the worker does between two submissions on one warm session."""
    zygote = box.sandbox.session_pids()
    box.sandbox.prepare()
    assert box.sandbox.session_pids() == zygote, "the session was replaced, not reused"


def python(box, code: str, **options):
    return box.run("/usr/bin/python3", "-c", code, **{**SMALL, **options})


# -- where a program can write ---------------------------------------------------------------

def test_the_only_writable_storage_is_what_the_session_resets(box):
    r = python(box, MOUNTS)
    assert r.outcome is Outcome.OK, r
    writable = set()
    for line in r.stdout.decode().splitlines():
        point, mode, fstype = line.split()
        # procfs (per-process kernel state) and bound device nodes hold no files of a run
        if mode == "rw" and fstype not in ("proc", "devtmpfs"):
            writable.add(point)
    assert writable == set(bwrap.SESSION_SCRATCH)


def test_no_directory_outside_the_scratch_ones_is_writable(box):
    """A walk of the whole sandbox (access(2) knows read-only mounts): nothing a future mount
    or bwrap option adds can become a place to plant files without failing this test."""
    r = box.sh("find / -path /proc -prune -o -writable ! -type l -exec test ! -c {} \\; -print "
               "2>/dev/null; echo walked", cpu_time=20, wall_time=60)  # nodes, links aside
    assert r.outcome is Outcome.OK and r.stdout.endswith(b"walked\n"), r
    stray = [path for path in r.stdout.decode().splitlines()[:-1]
             if not any(path == d or path.startswith(d + "/") for d in bwrap.SESSION_SCRATCH)]
    assert stray == []


def test_dev_is_read_only_and_holds_only_device_nodes_and_links(box):
    r = box.sh("for n in x stdin stdout stderr fd null; do rm -f /dev/$n; "
               "echo planted > /dev/$n.new; done 2>&1; mkdir /dev/d 2>&1; "
               "python3 -c \"import os; os.setxattr('/dev', 'user.a', b'1')\" 2>&1 | tail -1; "
               "echo; ls -A /dev | tr '\\n' ' '; echo; stat -f -c '%b' /dev")
    out = r.stdout.decode()
    assert out.count("Read-only file system") >= 13, out
    names = out.splitlines()[-2].split()
    assert sorted(names) == sorted([*[n for n in bwrap.DEV_NODES if os.path.exists(f"/dev/{n}")],
                                    *(name for name, _ in bwrap.DEV_LINKS), "shm"])
    assert int(out.splitlines()[-1]) * 4 <= bwrap.DEV_BYTES // 1024  # not the host's RAM


# -- the cross-user battery: A plants, B comes next on the same session ----------------------

PLANTS = [
    # (what user A does, what user B runs, what B must see)
    ("echo secret > /dev/x; echo secret > /dev/shm/x; echo secret > /tmp/x; echo secret > x",
     "cat /dev/x /dev/shm/x /tmp/x /box/x 2>/dev/null; ls -A /dev/shm /tmp /box | tr -d '\\n'",
     b"/box:/dev/shm:/tmp:"),
    ("rm -f /dev/stdin; echo ATTACKER > /dev/stdin",
     "python3 -c \"print(open('/dev/stdin').read(), end='')\"", b"mine\n"),
    ("rm -f /dev/stdout /dev/stderr; touch /dev/stdout /dev/stderr; chmod 666 /dev/std*",
     "echo S > /dev/stdout; echo E > /dev/stderr", b"S\nE\n"),
    ("rm -f /dev/fd; mkdir -p /dev/fd; echo stolen > /dev/fd/63",
     "cat <(echo data)", b"data\n"),
    ("mkdir -p /tmp/d && ln -s /box/stolen /tmp/d/out; mkfifo /dev/shm/pipe",
     "ls -A /tmp /dev/shm | tr -d '\\n'; echo data > /tmp/out; cat /tmp/out",
     b"/dev/shm:/tmp:data\n"),
    ("chmod 777 /box /tmp /dev/shm; chmod 000 /dev",
     "stat -c %a /box /tmp /dev/shm /dev | tr '\\n' ' '", b"755 755 755 755 "),
]


@pytest.mark.parametrize("plant,victim,expected", PLANTS,
                         ids=["files", "stdin", "stdout-stderr", "dev-fd", "links", "modes"])
def test_what_user_a_plants_never_reaches_user_b(box, plant, victim, expected):
    box.sh(plant, **SMALL)
    next_submission(box)
    r = box.run("/bin/bash", "-c", victim, stdin=b"mine\n", stderr_to_stdout=True, **SMALL)
    assert (r.outcome, r.stdout) == (Outcome.OK, expected), r


def test_extended_attributes_on_the_scratch_directories_never_reach_user_b(box):
    plant = ("import os\nfor d in ('/box', '/tmp', '/dev/shm', '/dev'):\n"
             "    try: os.setxattr(d, 'user.secret', b'A')\n"
             "    except OSError as e: print(d, e.strerror)\n")
    r = python(box, plant)
    if b"Operation not supported" in r.stdout:
        pytest.skip("this kernel has no user xattrs on tmpfs (Linux 6.6 and later do)")
    next_submission(box)
    r = python(box, "import os\nprint([os.listxattr(d) for d in "
                    "('/box', '/tmp', '/dev/shm', '/dev')])")
    assert r.stdout == b"[[], [], [], []]\n", r


def test_memory_user_a_filled_is_free_for_user_b(box):
    """A fills every writable place; B, with a limit smaller than what A held, still gets all
    of its limit and finds the places empty."""
    fill = ("for d in /box /tmp /dev/shm /dev; do head -c 40000000 /dev/zero > $d/fill; done; "
            "df --output=used /box /tmp /dev/shm | tail -3 | tr '\\n' ' '")
    r = box.sh(fill, memory_kb=256_000, file_size_kb=0, cpu_time=30, wall_time=60)  # TCG room
    assert [int(kb) for kb in r.stdout.split()] == [39064] * 3, r
    next_submission(box)
    r = python(box, "import os\nblob = bytearray(45 << 20)\n"
                    "print([os.statvfs(d).f_bfree == os.statvfs(d).f_blocks "
                    "for d in ('/box', '/tmp', '/dev/shm')])", memory_kb=64_000)
    assert (r.outcome, r.stdout) == (Outcome.OK, b"[True, True, True]\n"), r


# -- memory made by an earlier step counts against the later one -----------------------------

MAP_AND_TOUCH = """
import mmap, os, glob
for name in sorted(glob.glob('/box/blob*')):
    with open(name, 'r+b') as f:
        m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED)
        m[:] = b'x' * len(m)
extra = bytearray({extra} << 20)
print('touched')
"""


def make_blobs(box, count: int, megabytes: int) -> None:
    """What a compile step could leave in the box: tmpfs pages charged to its own cgroup."""
    r = box.sh(f"for i in $(seq {count}); do head -c {megabytes << 20} /dev/zero > blob$i; done",
               memory_kb=512_000, file_size_kb=0, cpu_time=30, wall_time=60)  # room for TCG
    assert r.outcome is Outcome.OK, r


def test_files_an_earlier_step_left_cannot_lift_a_run_past_its_memory_limit(box):
    make_blobs(box, 50, 4)  # 200 MB in the box
    r = python(box, MAP_AND_TOUCH.format(extra=0), memory_kb=16_000)
    assert r.outcome is Outcome.MEMORY_LIMIT and b"touched" not in r.stdout, r
    assert r.memory_kb >= 200 * 1024


def test_files_an_earlier_step_left_are_counted_in_a_runs_memory(box):
    make_blobs(box, 5, 4)  # 20 MB in the box
    fits = python(box, MAP_AND_TOUCH.format(extra=20), memory_kb=64_000)
    assert fits.outcome is Outcome.OK and fits.memory_kb >= 40 * 1024, fits
    over = python(box, MAP_AND_TOUCH.format(extra=50), memory_kb=64_000)
    assert over.outcome is Outcome.MEMORY_LIMIT, over


# -- host details ----------------------------------------------------------------------------

def test_host_details_are_masked(box):
    masked = [p for p in bwrap.PROC_MASKED if os.path.exists(p)]
    r = box.sh(" ".join(f"cat {p} 2>/dev/null | wc -c;" if os.path.isfile(p) else f"ls -A {p};"
                        for p in masked) + " cat /proc/self/mountinfo", **SMALL)
    lines = r.stdout.decode().splitlines()
    files = [p for p in masked if os.path.isfile(p)]
    assert lines[:len(files)] == ["0"] * len(files)  # unreadable: nothing comes out
    mountinfo = "\n".join(lines[len(files):])
    assert str(BOXES) not in mountinfo and "/var/lib" not in mountinfo, mountinfo
    host_cmdline = open("/proc/cmdline").read().strip()
    assert host_cmdline not in r.stdout.decode()


# -- two boxes at once -----------------------------------------------------------------------

@pytest.fixture
def twin_sandbox(session_sandbox: NativeSandbox) -> Iterator[NativeSandbox]:
    """A second box on the same host, as a second worker would hold."""
    twin = open_sandbox(SandboxSettings(boxes_dir=BOXES, first_uid=FIRST_UID))
    assert twin.box.id != session_sandbox.box.id
    yield twin
    twin.close()


def test_two_boxes_running_at_once_see_nothing_of_each_other(box, twin_sandbox):
    """A holds its secret in every writable place while B, in another box at the same time,
    looks for it everywhere it can."""
    secret = "twin-secret-" + os.urandom(6).hex()
    plant = (f"for d in /box /tmp /dev/shm; do echo {secret} > $d/s; done; "
             "echo planted; sleep 3")
    holder: list = []
    a = threading.Thread(target=lambda: holder.append(box.sh(plant, **SMALL)))
    a.start()
    try:
        twin_sandbox.box.reset()
        look = (f"sleep 1; grep -rs {secret} /box /tmp /dev/shm /proc/*/cmdline; "
                "ls /proc | grep -c '^[0-9]'")
        r = twin_sandbox.run(RunSpec(("/bin/sh", "-c", look), Limits(**SMALL)))
    finally:
        a.join()
    assert holder[0].stdout == b"planted\n"
    assert secret.encode() not in r.stdout
    assert int(r.stdout.split()[-1]) <= 4  # its own processes only (PID 1, sh, ls, grep)


# -- walks of what a program shaped ----------------------------------------------------------

DEEP_TREE = ("import os\nfor _ in range({depth}):\n    os.mkdir('d'); os.chdir('d')\n"
             "open('bottom', 'w').write('deep')\nprint('built')")


@pytest.mark.parametrize("depth", [1100, 3000])  # 3000 levels: paths beyond PATH_MAX
def test_a_box_nested_deeper_than_any_stack_or_path_is_copied_and_restored(box, depth):
    r = python(box, DEEP_TREE.format(depth=depth))
    assert r.stdout == b"built\n", r
    entries = box.sandbox.box.snapshot(1 << 20, strict=True)
    assert len(entries) == depth + 1 and entries[-1][2] == b"deep"
    assert entries[-1][0] == "d/" * depth + "bottom"
    box.sandbox.box.reset()
    box.sandbox.box.restore(entries)
    r = python(box, f"import os\nfor _ in range({depth}): os.chdir('d')\n"
                    "print(open('bottom').read())")
    assert r.stdout == b"deep\n", r


def test_a_strict_snapshot_refuses_what_it_cannot_reproduce(box):
    box.sh("mkdir -p a/b && ln -s /etc/passwd a/b/link")
    assert [rel for rel, _, _ in box.sandbox.box.snapshot(1 << 20)] == ["a", "a/b"]
    with pytest.raises(BoxError, match="neither a file nor a directory"):
        box.sandbox.box.snapshot(1 << 20, strict=True)
