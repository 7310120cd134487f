"""Per-submission options end to end (§9 of docs/judge0-contract.md): additional_files (hostile archives
included), multi-file programs, compiler_options, command_line_arguments, enable_network."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator

import pytest
import redis

from judge.sandbox import network

from .conftest import E2E_REDIS_URL, start_engine, stop_engine
from .test_red_team import Listener, zip_b64
from .test_submissions import BASH, CPP, PY, C, b64

PROJECT = 89
MAX_EXTRACT_BYTES = 10240 * 1024  # MAX_EXTRACT_SIZE's default, in bytes


def run(engine, source: str | None, language_id: int, **attrs) -> dict:
    body = {"language_id": language_id, **attrs}
    if source is not None:
        body["source_code"] = b64(source)
    return engine.run(body, base64_encoded="true", fields="*")


def text(value: str | None) -> str:
    return base64.b64decode(value).decode(errors="replace") if value else ""


# -- additional_files ---------------------------------------------------------------------------

def test_additional_files_sit_next_to_the_source_file(engine):
    body = run(engine, '#include "greeting.h"\n#include <stdio.h>\n'
                       'int main(void) { printf("%s\\n", GREETING); return 0; }\n', C,
               additional_files=zip_b64({"greeting.h": b'#define GREETING "hello"\n'}))
    assert body["status"]["id"] == 3 and text(body["stdout"]) == "hello\n"
    body = run(engine, "import helper\nprint(helper.twice(21))", PY,
               additional_files=zip_b64({"helper.py": b"def twice(x):\n    return 2 * x\n",
                                         "data/input.txt": b"nested"}))
    assert text(body["stdout"]) == "42\n"


def test_the_archive_is_gone_once_extracted(engine):
    body = run(engine, "ls", BASH, additional_files=zip_b64({"a.txt": b"a"}))
    assert text(body["stdout"]).split() == ["a.txt", "run.sh", "script.sh"]


def test_an_archive_never_overwrites_the_source_file_or_our_scripts(engine):
    files = {"script.py": b"print('replaced')", "run.sh": b"echo pwned-run",
             "compile.sh": b"echo pwned-compile"}
    body = run(engine, "print('original')", PY, additional_files=zip_b64(files))
    assert text(body["stdout"]) == "original\n"
    body = run(engine, "int main(void) { return 0; }", C,
               additional_files=zip_b64({"main.c": b"int main(void) { return 7; }", **files}))
    assert body["status"]["id"] == 3 and "pwned" not in text(body["compile_output"])


def test_zip_slip_and_absolute_paths_stay_inside_the_box(engine):
    archive = zip_b64({"../../escape-up": b"up", "/tmp/escape-abs": b"abs",
                       "sub/../../escape-mid": b"mid", "fine.txt": b"fine"})
    body = run(engine, "find / -xdev -name 'escape-*' 2>/dev/null | sort; ls", BASH,
               additional_files=archive)
    found = text(body["stdout"]).split()
    assert all(path.startswith("/box/") or "/" not in path for path in found), found
    assert "fine.txt" in found


def test_symlinks_in_an_archive_cannot_reach_the_host_or_replace_the_source(engine):
    archive = zip_b64({}, {"shadow": "/etc/shadow", "project": "/work/main/README.md",
                           "script.sh": "/etc/passwd", "up": "../../.."})
    body = run(engine, "cat shadow project 2>&1; ls up/ 2>&1 | head -3; echo source-ran", BASH,
               additional_files=archive)
    out = text(body["stdout"])
    assert "source-ran" in out and "root:" not in out and "Judge0" not in out


def test_a_zip_bomb_is_cut_at_the_extract_size_and_the_program_still_runs(engine):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros", b"\0" * (200 << 20))  # 200 MB that compress to 200 KB
    body = run(engine, "stat -c %s zeros 2>/dev/null || echo none; echo ran", BASH,
               additional_files=base64.b64encode(bomb.getvalue()).decode())
    lines = text(body["stdout"]).split()
    assert lines[-1] == "ran" and body["status"]["id"] == 3
    assert lines[0] == "none" or int(lines[0]) <= MAX_EXTRACT_BYTES


def test_an_archive_with_more_files_than_the_box_holds_leaves_the_program_runnable(engine):
    many = {f"f{i}": b"" for i in range(6000)}  # the box has 4096 inodes
    body = run(engine, "echo ran", BASH, additional_files=zip_b64(many))
    assert body["status"]["id"] == 3 and text(body["stdout"]) == "ran\n"


def test_an_archive_that_is_not_a_zip_is_ignored(engine):
    body = run(engine, "echo ran", BASH, additional_files=b64("definitely not a zip"))
    assert body["status"]["id"] == 3 and text(body["stdout"]) == "ran\n"


# -- multi-file programs (§9.2) -----------------------------------------------------------------

MAIN_C = b'#include <stdio.h>\nint main(int c, char **v) { printf("args=%d\\n", c - 1); }\n'


@pytest.mark.parametrize(("compile_name", "run_name"), [("compile.sh", "run.sh"),
                                                        ("compile", "run")])
def test_a_multi_file_program_compiles_and_runs_with_its_own_scripts(engine, compile_name,
                                                                     run_name):
    archive = zip_b64({compile_name: b"gcc -o prog main.c\n", run_name: b"./prog one two\n",
                       "main.c": MAIN_C})
    body = run(engine, None, PROJECT, additional_files=archive, command_line_arguments="x y z")
    assert body["status"]["id"] == 3, body
    assert text(body["stdout"]) == "args=2\n"  # command_line_arguments are ignored for 89


def test_run_sh_is_preferred_to_run_and_no_compile_script_means_no_compile_step(engine):
    archive = zip_b64({"run.sh": b"echo from-run-sh\n", "run": b"echo from-run\n"})
    body = run(engine, None, PROJECT, additional_files=archive)
    assert text(body["stdout"]) == "from-run-sh\n" and body["compile_output"] is None


def test_a_failing_compile_script_is_a_compilation_error(engine):
    archive = zip_b64({"compile.sh": b"echo building; gcc -o prog missing.c\n",
                       "run.sh": b"./prog\n"})
    body = run(engine, None, PROJECT, additional_files=archive)
    assert body["status"]["id"] == 6 and "building" in text(body["compile_output"])


def test_a_multi_file_program_without_a_run_script_is_nzec_127(engine):
    body = run(engine, None, PROJECT, additional_files=zip_b64({"main.c": MAIN_C}))
    assert body["status"]["id"] == 11 and body["exit_code"] == 127


# -- compiler_options and command_line_arguments ------------------------------------------------

def test_compiler_options_reach_the_compiler(engine):
    source = '#include <stdio.h>\nint main(void) { printf("%d\\n", VALUE); return 0; }\n'
    body = run(engine, source, C, compiler_options="-DVALUE=42 -O2")
    assert body["status"]["id"] == 3 and text(body["stdout"]) == "42\n"
    assert run(engine, source.replace("<stdio.h>", "<cstdio>"), CPP,
               compiler_options="-DVALUE=7 -std=c++17")["status"]["id"] == 3


def test_compiler_options_cannot_inject_shell_commands(engine):
    body = run(engine, "int main(void) { return 0; }", C,
               compiler_options="-O2; echo INJECTED > /box/x | `touch /box/y` $(id)")
    out = text(body["compile_output"])
    assert body["status"]["id"] == 6  # the leftovers are file names gcc cannot find
    assert "INJECTED" not in text(body["stdout"]) and "uid=" not in out


def test_compiler_options_longer_than_512_characters_are_refused(engine):
    resp = engine.post({"source_code": "int main(){}", "language_id": C,
                        "compiler_options": "-O2 " * 129})
    assert resp.status_code == 422
    assert resp.json() == {"compiler_options": ["is too long (maximum is 512 characters)"]}


def test_command_line_arguments_follow_bash_word_splitting_after_sanitising(engine):
    body = run(engine, "import sys\nprint(sys.argv[1:])", PY,
               command_line_arguments="a 'b c' \"d e\"; touch pwned | x")
    assert text(body["stdout"]) == "['a', 'b c', 'd e', 'touch', 'pwned', 'x']\n"


# -- per-server switches ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def restricted_api(database_url) -> Iterator:
    """An API whose operator disabled these options; no workers (only validation is tested)."""
    env = {"ALLOWED_LANGUAGES_FOR_COMPILER_OPTIONS": "C C++",
           "ENABLE_COMMAND_LINE_ARGUMENTS": "false", "ENABLE_ADDITIONAL_FILES": "false",
           "ALLOW_ENABLE_NETWORK": "false"}
    redis_url = E2E_REDIS_URL.rsplit("/", 1)[0] + "/9"
    engine, procs = start_engine(database_url, redis_url, env, workers=0)
    yield engine
    stop_engine(procs)
    redis.Redis.from_url(redis_url).flushdb()


@pytest.mark.parametrize(("attrs", "errors"), [
    ({"language_id": 62, "compiler_options": "-g"},
     {"compiler_options": ["setting compiler options is only allowed for C and C++"]}),
    ({"language_id": 71, "command_line_arguments": "x"},
     {"command_line_arguments": ["setting command line arguments is not allowed"]}),
    ({"language_id": 71, "additional_files": zip_b64({"a": b"a"})},
     {"additional_files": ["setting additional files is not allowed"]}),
    ({"language_id": 71, "enable_network": True},
     {"enable_network": ["enabling network is not allowed"]}),
])
def test_options_an_operator_disabled_are_refused_with_judge0s_messages(restricted_api, attrs,
                                                                        errors):
    resp = restricted_api.post({"source_code": "x", **attrs})
    assert resp.status_code == 422 and resp.json() == errors


# -- enable_network -----------------------------------------------------------------------------

NET_PROBE = """
import socket, sys
print(open("/etc/resolv.conf").read().strip())
for host in sys.argv[1:]:
    try:
        socket.create_connection((host.split(":")[0], int(host.split(":")[1])), 3)
        print(host, "CONNECTED")
    except OSError as e:
        print(host, type(e).__name__)
"""


def test_a_networked_program_cannot_reach_the_hosts_loopback_or_addresses(engine):
    listener = Listener("0.0.0.0")
    try:
        own = [a for a in network.host_addresses() if ":" not in a]
        targets = [f"{a}:{listener.port}" for a in [*own, "10.0.2.2"]]
        body = run(engine, NET_PROBE, PY, enable_network=True,
                   command_line_arguments=" ".join(targets))
    finally:
        listener.close()
    out = text(body["stdout"])
    assert body["status"]["id"] == 3, body
    assert out.startswith(f"nameserver {network.DNS}") and "CONNECTED" not in out
    assert listener.accepted == 0


def test_without_enable_network_a_program_has_no_ip_sockets(engine):
    body = run(engine, "import socket\ntry:\n    socket.socket()\n    print('socket')\n"
                       "except OSError as e:\n    print(e.errno)", PY, enable_network=False)
    assert text(body["stdout"]) == "13\n"
