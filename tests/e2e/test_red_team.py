"""Hostile submissions through the public API (issue 6's red team): each one is contained, gets
a sensible verdict, leaves the host as it was, and the very next normal submission is judged
correctly by the same workers."""

from __future__ import annotations

import base64
import io
import os
import socket
import threading
import zipfile
from collections.abc import Callable

import pytest

from .conftest import ROOT

PY, C, CPP, BASH, JAVA, JS = 71, 50, 54, 46, 62, 63
SECRET = "red-team-secret-" + os.urandom(8).hex()
# Set before the session's engine starts (at collection), so its workers inherit it: no
# submission may ever see it.
os.environ.setdefault("JUDGE_RED_TEAM_SECRET", SECRET)
SECRET = os.environ["JUDGE_RED_TEAM_SECRET"]
TIGHT = {"cpu_time_limit": 1, "cpu_extra_time": 0.5, "wall_time_limit": 3}


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def zip_b64(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symlink entry
            z.writestr(info, target)
    return b64(buf.getvalue())


class Listener:
    """A TCP listener on the host that no submission may reach."""

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


LISTENER = Listener()  # lives for the test session; the cases below aim at its port


def not_in_output(*needles: str) -> Callable[[dict], None]:
    def check(body: dict) -> None:
        text = b"".join(base64.b64decode(body[k] or "") for k in ("stdout", "stderr",
                                                                  "compile_output"))
        for needle in needles:
            assert needle.encode() not in text, (needle, text[:500])
    return check


def status_in(*ids: int) -> Callable[[dict], None]:
    def check(body: dict) -> None:
        assert body["status"]["id"] in ids, body
    return check


def stdout_is(expected: str) -> Callable[[dict], None]:
    def check(body: dict) -> None:
        assert base64.b64decode(body["stdout"] or "").decode() == expected, body
    return check


FORK_BOMB_C = "#include <unistd.h>\nint main(){for(;;) fork();}"
MEMORY_BOMB_C = ("#include <stdlib.h>\n#include <string.h>\nint main(){for(;;){char*p=malloc(1<<20);"
                 "if(p) memset(p,1,1<<20);}}")
NET_C = ("#include <stdio.h>\n#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n"
         "int main(int c,char**v){int s=socket(AF_INET,SOCK_STREAM,0);if(s<0){perror(\"socket\");return 0;}"
         "struct sockaddr_in a={0};a.sin_family=AF_INET;a.sin_port=htons(%d);"
         "inet_pton(AF_INET,\"%s\",&a.sin_addr);"
         "if(connect(s,(void*)&a,sizeof a)==0)puts(\"CONNECTED\");else perror(\"connect\");}")
PTRACE_C = ("#define _GNU_SOURCE\n#include <stdio.h>\n#include <sched.h>\n#include <sys/ptrace.h>\n"
            "#include <sys/mount.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n"
            "int main(){printf(\"%ld %d %d %ld\\n\",ptrace(PTRACE_TRACEME,0,0,0),"
            "mount(\"none\",\"/tmp\",\"tmpfs\",0,0),unshare(CLONE_NEWUSER),"
            "syscall(SYS_keyctl,0,0,0,0,0));}")

# name, language, source, extra attributes, check
CASES: list[tuple[str, int, str, dict, Callable[[dict], None]]] = [
    ("bash fork bomb", BASH, ":(){ :|:& };:", TIGHT, status_in(3, 5, 11)),
    ("C fork bomb", C, FORK_BOMB_C, TIGHT, status_in(5, 12)),
    ("python fork bomb", PY, "import os\nwhile True:\n    os.fork()", TIGHT,
     status_in(5, 11, 12)),
    ("C memory bomb", C, MEMORY_BOMB_C, {**TIGHT, "memory_limit": 64000}, status_in(12)),
    ("python memory bomb", PY, "a=[]\nwhile True: a.append(bytearray(1<<20))",
     {**TIGHT, "memory_limit": 64000}, status_in(12)),
    ("java heap bomb", JAVA, "import java.util.*;public class Main{public static void main(String[] a)"
     "{List<long[]> l=new ArrayList<>();while(true)l.add(new long[1<<20]);}}", TIGHT,
     status_in(11, 12, 5)),
    ("node memory bomb", JS, "const a=[];while(true)a.push(new Array(1e6).fill(1));", TIGHT,
     status_in(5, 11, 12)),
    ("1 GB to stdout", C, "#include <stdio.h>\nint main(){for(;;)fputs(\"xxxxxxxxxxxxxxx\\n\",stdout);}",
     TIGHT, status_in(8)),
    ("stderr flood", BASH, "yes >&2", TIGHT, status_in(8)),
    ("fill the box", BASH, "dd if=/dev/zero of=big bs=1M count=2000 2>&1; echo end",
     {**TIGHT, "max_file_size": 4096}, status_in(3, 8, 11)),
    ("100k tiny files", BASH, "for i in $(seq 100000); do : > f$i || break; done; echo $i",
     {**TIGHT, "wall_time_limit": 10, "cpu_time_limit": 5}, status_in(3, 5)),
    ("fill /tmp", BASH, "dd if=/dev/zero of=/tmp/x bs=1M count=500 2>&1 | tail -1", TIGHT,
     status_in(3, 8, 11, 12)),
    ("fill /dev/shm", PY, "open('/dev/shm/x','wb').write(b'x'*(400<<20))", TIGHT,
     status_in(11, 12)),
    ("sleep forever", BASH, "sleep infinity", TIGHT, status_in(5)),
    ("busy loop", PY, "while True: pass", TIGHT, status_in(5)),
    ("orphaned background burner", BASH, "(while :; do :; done) & disown; echo started",
     TIGHT, status_in(3, 5)),
    ("setsid daemon", PY, "import os\nif os.fork()==0:\n    os.setsid()\n    import time\n"
     "    time.sleep(100)\nprint('parent done')", TIGHT, stdout_is("parent done\n")),
    ("read /etc/shadow", BASH, "cat /etc/shadow; ls /root /home /work /var/lib/postgresql/*/main",
     {}, not_in_output("root:", "PG_VERSION")),
    ("read the project", PY, f"import os\nprint(os.listdir('/'))\nprint(open('{ROOT}/README.md').read())",
     {}, not_in_output("drop-in replacement")),
    ("environment secrets", BASH, "env; cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'",
     {}, not_in_output(SECRET, "DATABASE_URL", "REDIS_URL")),
    ("proc of other processes", BASH, "ls /proc | grep -c '^[0-9]'; cat /proc/*/cmdline | tr '\\0' ' '",
     {}, not_in_output("gunicorn", "postgres", "redis-server")),
    ("SSRF to postgres", C, NET_C % (5432, "127.0.0.1"), {}, not_in_output("CONNECTED")),
    ("connect to a host listener", C, NET_C % (LISTENER.port, "127.0.0.1"), {},
     not_in_output("CONNECTED")),
    ("SSRF to redis", PY, "import socket\ntry:\n    socket.create_connection(('127.0.0.1',6379),2)\n"
     "    print('CONNECTED')\nexcept OSError as e:\n    print(e)", {}, not_in_output("CONNECTED")),
    ("SSRF to cloud metadata", PY, "import urllib.request\ntry:\n    urllib.request.urlopen("
     "'http://169.254.169.254/latest/meta-data/',timeout=2)\n    print('CONNECTED')\n"
     "except Exception as e:\n    print(e)", {}, not_in_output("CONNECTED")),
    ("ptrace mount unshare keyctl", C, PTRACE_C, {}, stdout_is("-1 -1 -1 -1\n")),
    ("kill everything", BASH, "kill -9 -1; echo survived", {}, status_in(3, 12)),
    ("write into /usr", BASH, "echo x > /usr/bin/x && echo WROTE; touch /etc/x && echo WROTE",
     {}, not_in_output("WROTE")),
    ("symlink trap in the box", BASH, "ln -s /etc/passwd run.sh; ln -s / root; mkfifo fifo; "
     "ln -s /work/main/README.md compile.sh; echo planted", {}, stdout_is("planted\n")),
    ("huge argv", PY, "import subprocess\nsubprocess.run(['/bin/true'] + ['x'*100000]*100)", TIGHT,
     status_in(3, 11)),
    ("compile-time /dev/random include", C, "#include </dev/random>\nint main(){}", {},
     status_in(6)),
    ("compile-time /dev/zero include", CPP, "#include </dev/zero>\nint main(){}", {}, status_in(6)),
    ("template blow-up", CPP, "template<int N, long V> struct B { static const long v = "
     "B<N-1, V*2>::v + B<N-1, V*2+1>::v; };\ntemplate<long V> struct B<0, V> "
     "{ static const long v = V; };\nint main(){ return (int)B<40, 0>::v; }", {}, status_in(6)),
    ("compiler output flood", C, "#include <stdio.h>\n" + "int x = ;\n" * 20000, {}, status_in(6)),
    ("zip slip", BASH, "ls -R; cat ../../escape 2>&1", {"additional_files": zip_b64(
        {"../../escape": b"pwned", "/abs/path": b"abs", "ok.txt": b"ok"})},
     not_in_output("pwned")),
    ("zip symlink to host file", BASH, "cat link 2>&1 | head -c 200; echo",
     {"additional_files": zip_b64({}, {"link": "/etc/shadow"})}, not_in_output("root:")),
    ("zip bomb", BASH, "ls -la | head; echo done", {"additional_files": zip_b64(
        {f"bomb{i}": b"\0" * (64 << 20) for i in range(3)})}, status_in(3)),
    ("zip overwrite of the source", BASH, "echo original", {"additional_files": zip_b64(
        {"script.sh": b"echo replaced"})}, stdout_is("original\n")),
    ("signal the supervisor", PY, "import os, signal\nfor pid in range(1, 200):\n    try:\n"
     "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\nprint('ok')",
     {}, status_in(3, 12)),
    ("cgroup escape attempt", BASH, "cat /proc/self/cgroup; echo $$ > /sys/fs/cgroup/cgroup.procs "
     "2>&1; ls /sys/fs/cgroup 2>&1 | head -3", {}, status_in(3, 11)),
    ("setuid binaries", BASH, "su -c id root 2>&1; sudo id 2>&1; id -u", {},
     not_in_output("uid=0")),
    ("raw socket", PY, "import socket\ntry:\n    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
     "    print('RAW')\nexcept OSError as e:\n    print(e)", {}, not_in_output("RAW")),
]


def test_red_team_has_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name, language, source, attrs, check", CASES,
                         ids=[case[0] for case in CASES])
def test_hostile_submission_is_contained(engine, name, language, source, attrs, check):
    body = engine.run({"source_code": b64(source), "language_id": language, **attrs},
                      base64_encoded="true", fields="*")
    assert body["status"]["id"] not in (1, 2, 13), body  # judged, no internal error
    check(body)
    assert LISTENER.accepted == 0
    assert (ROOT / "README.md").exists()
    # the same engine still judges a normal submission right
    after = engine.run({"source_code": "print(6*7)", "language_id": PY})
    assert after["status"]["id"] == 3 and after["stdout"] == "42\n"
