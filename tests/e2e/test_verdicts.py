"""Every verdict produced by a real program through the public API (§6 of docs/judge0-contract.md)."""

from __future__ import annotations

import base64
import re

import pytest

from .test_submissions import BASH, CPP, PY, TEXT, C, b64, wait_final

DECIMAL = re.compile(r"^\d+\.\d+$")

HELLO = {
    TEXT: "hello, world\n",
    BASH: 'read name; echo "hello, $name"',
    C: '#include <stdio.h>\nint main(){char n[64];scanf("%63s",n);printf("hello, %s\\n",n);}',
    CPP: "#include <iostream>\n#include <string>\nint main(){std::string n;std::cin>>n;"
         'std::cout<<"hello, "<<n<<std::endl;}',
    62: "import java.util.Scanner;\npublic class Main{public static void main(String[] a){"
        'System.out.println("hello, "+new Scanner(System.in).next());}}',
    63: "const n=require('fs').readFileSync(0,'utf8').trim();console.log('hello, '+n);",
    PY: 'print("hello, " + input())',
    48: '#include <stdio.h>\nint main(){char n[64];scanf("%63s",n);printf("hello, %s\\n",n);}',
    52: "#include <iostream>\nint main(){std::string n;std::cin>>n;std::cout<<\"hello, \"<<n<<'\\n';}",
}


@pytest.mark.parametrize("language_id", list(HELLO))
def test_hello_world_with_stdin_is_accepted(engine, language_id):
    expected = "hello, world\n" if language_id != TEXT else None
    body = engine.run({"source_code": HELLO[language_id], "language_id": language_id,
                       "stdin": "world", "expected_output": expected},
                      fields="*")
    assert body["status"] == {"id": 3, "description": "Accepted"}, body
    assert body["stdout"] == "hello, world\n"
    assert body["exit_code"] == 0 and body["exit_signal"] is None and body["message"] is None
    assert DECIMAL.match(body["time"]) and DECIMAL.match(body["wall_time"])
    assert isinstance(body["memory"], int) and body["memory"] > 0


def test_trailing_whitespace_and_cr_are_ignored_leading_whitespace_is_not(engine):
    src = 'print("a  \\r\\nb\\n\\n")'
    assert engine.run({"source_code": src, "language_id": PY,
                       "expected_output": "a\nb"})["status"]["id"] == 3
    assert engine.run({"source_code": src, "language_id": PY,
                       "expected_output": " a\nb"})["status"]["id"] == 4


def test_empty_expected_output_with_empty_stdout_is_wrong_answer(engine):
    body = engine.run({"source_code": "pass", "language_id": PY, "expected_output": ""})
    assert body["status"] == {"id": 4, "description": "Wrong Answer"}


def test_nonzero_exit_is_nzec_with_its_code(engine):
    body = engine.run({"source_code": "import sys; sys.exit(42)", "language_id": PY},
                      fields="status,exit_code,exit_signal,message")
    assert body == {"exit_code": 42, "exit_signal": None,
                    "message": "Exited with error status 42",
                    "status": {"id": 11, "description": "Runtime Error (NZEC)"}}


@pytest.mark.parametrize("source, status, signal", [
    ("int main(){volatile int *p=0; return *p;}", 7, 11),
    ("#include <stdlib.h>\nint main(){abort();}", 10, 6),
    ("int main(){volatile int z=0; volatile int r=10/z; return r;}", 9, 8),
    ("#include <signal.h>\nint main(){raise(SIGTERM);}", 12, 15),
])
def test_signals_are_reported_accurately(engine, source, status, signal):
    body = engine.run({"source_code": source, "language_id": C},
                      fields="status,exit_code,exit_signal,message,stderr")
    assert body["status"]["id"] == status, body
    assert body["exit_signal"] == signal
    assert body["message"] == f"Caught fatal signal {signal}"


def test_cpu_time_limit(engine):
    body = engine.run({"source_code": "while True: pass", "language_id": PY,
                       "cpu_time_limit": 1, "cpu_extra_time": 0.5},
                      fields="status,message,exit_code,time")
    assert body["status"] == {"id": 5, "description": "Time Limit Exceeded"}
    assert body["message"] == "Time limit exceeded"
    assert body["exit_code"] == 0
    assert float(body["time"]) >= 1.0


def test_wall_time_limit(engine):
    body = engine.run({"source_code": "sleep 5", "language_id": BASH, "wall_time_limit": 1},
                      fields="status,message,exit_code")
    assert body == {"exit_code": 0, "message": "Time limit exceeded (wall clock)",
                    "status": {"id": 5, "description": "Time Limit Exceeded"}}


def test_memory_limit_is_status_12_signal_9(engine):
    body = engine.run({"source_code": "a = bytearray(300 * 1024 * 1024)", "language_id": PY,
                       "memory_limit": 64000}, fields="status,message,exit_signal,memory")
    assert body["status"] == {"id": 12, "description": "Runtime Error (Other)"}
    assert body["exit_signal"] == 9
    assert body["message"] == "Memory limit exceeded"


def test_output_beyond_max_file_size_is_sigxfsz(engine):
    body = engine.run({"source_code": "yes", "language_id": BASH, "max_file_size": 64},
                      fields="status,exit_signal,stdout")
    assert body["status"]["id"] == 8
    assert body["exit_signal"] == 25
    assert len(body["stdout"]) == 64 * 1024


def test_compile_error_keeps_compiler_output_and_nulls_the_rest(engine):
    body = engine.run({"source_code": b64("int main(){ oops }"), "language_id": C},
                      fields="*", base64_encoded="true")
    assert body["status"] == {"id": 6, "description": "Compilation Error"}
    assert b"error" in base64.b64decode(body["compile_output"])
    for key in ("time", "wall_time", "memory", "stdout", "stderr", "exit_code", "message"):
        assert body[key] is None, key


def test_compile_warnings_are_kept_on_success(engine):
    body = engine.run({"source_code": b64("int main(){int x; return 0;}"), "language_id": C,
                       "compiler_options": "-Wall"}, base64_encoded="true")
    assert body["status"]["id"] == 3, base64.b64decode(body["compile_output"] or "")
    assert b"unused variable" in base64.b64decode(body["compile_output"])


def test_compilation_time_limit(database_url):
    """An exponential template instantiation, stopped by a 1-second compile limit."""
    from .conftest import start_engine, stop_engine
    limits = {"CPU_TIME_LIMIT": "1", "MAX_CPU_TIME_LIMIT": "1", "WALL_TIME_LIMIT": "3",
              "MAX_WALL_TIME_LIMIT": "3"}
    engine, procs = start_engine(database_url, "redis://127.0.0.1:6379/12", limits, workers=1)
    source = ("template<int N, long V> struct B "
              "{ static const long v = B<N-1, V*2>::v + B<N-1, V*2+1>::v; };\n"
              "template<long V> struct B<0, V> { static const long v = V; };\n"
              "int main(){ return (int)B<30, 0>::v; }\n")
    try:
        body = engine.run({"source_code": source, "language_id": CPP},
                          fields="status,compile_output,time,memory")
    finally:
        stop_engine(procs)
    assert body == {"compile_output": "Compilation time limit exceeded.", "time": None,
                    "memory": None, "status": {"id": 6, "description": "Compilation Error"}}


def test_number_of_runs_averages_time_and_stops_at_the_first_failure(engine, storage):
    body = engine.run({"source_code": "print(input())", "language_id": PY, "stdin": "x",
                       "number_of_runs": 3, "expected_output": "x"}, fields="*")
    assert body["status"]["id"] == 3 and body["number_of_runs"] == 3
    assert DECIMAL.match(body["time"])
    # a program that leaves a file behind fails on its second run only if runs share state:
    # they do not, every run starts from the compiled box
    src = ("import os\nif os.path.exists('mark'): raise SystemExit(5)\nopen('mark','w').close()")
    body = engine.run({"source_code": src, "language_id": PY, "number_of_runs": 3})
    assert body["status"]["id"] == 3


def test_redirect_stderr_to_stdout(engine):
    body = engine.run({"source_code": "import sys; print('out'); sys.stdout.flush(); "
                                      "print('err', file=sys.stderr)",
                       "language_id": PY, "redirect_stderr_to_stdout": True})
    assert body["stdout"] == "out\nerr\n" and body["stderr"] is None


def test_stderr_is_captured_separately(engine):
    body = engine.run({"source_code": "echo out; echo err >&2", "language_id": BASH})
    assert body["stdout"] == "out\n" and body["stderr"] == "err\n"


def test_command_line_arguments_are_passed_after_sanitising(engine):
    body = engine.run({"source_code": "import sys; print(sys.argv[1:])", "language_id": PY,
                       "command_line_arguments": "a 'b c' ; rm -rf /"})
    assert body["stdout"] == "['a', 'b c', 'rm', '-rf', '/']\n"


def test_async_submission_reaches_a_final_status(engine):
    token = engine.post({"source_code": "print(2+2)", "language_id": PY}).json()["token"]
    body = wait_final(engine, token)
    assert body["status"]["id"] == 3 and body["stdout"] == "4\n"
    assert body["started_at"] and body["finished_at"] and body["execution_host"]
