"""`judge run FILE --language ID`: one file judged through the real sandbox and pipeline, as a
user (and the VM lab's judge-run step) runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..hostcheck import live_processes, mounted, run_cgroups

BOXES = "/var/lib/judge/test-cli-boxes"
FIRST_UID = 64000  # a range of its own: the session's sandbox and the e2e engines use others
JUDGE = [sys.executable, "-m", "judge.cli.command", "run"]

INTERFACES = """import socket
print(" ".join(sorted(name for _, name in socket.if_nameindex())))
"""


@pytest.fixture
def judge_run(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")

    def run(source: str, *options: str, stdin: str | None = None, **env: str):
        (tmp_path / "main.py").write_text(source)
        argv = [*JUDGE, str(tmp_path / "main.py"), "--language", "71", *options]
        if stdin is not None:
            (tmp_path / "in.txt").write_text(stdin)
            argv += ["--stdin", str(tmp_path / "in.txt")]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "SANDBOX_BOXES_DIR": BOXES,
                                   "SANDBOX_FIRST_UID": str(FIRST_UID), **env})

    yield run
    assert live_processes(FIRST_UID, 1000, set()) == []
    assert run_cgroups(FIRST_UID, 1000) == []
    assert not mounted(BOXES)


def test_a_file_is_judged_with_its_stdin(judge_run):
    done = judge_run('print("hello, " + input())', stdin="world\n")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == {"id": 3, "description": "Accepted"}
    assert result["stdout"] == "hello, world\n"


def test_a_wrong_verdict_exits_non_zero(judge_run):
    done = judge_run("raise SystemExit(3)")
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"]["description"] == "Runtime Error (NZEC)"


def test_enable_network_follows_allow_enable_network(judge_run):
    refused = judge_run(INTERFACES, "--enable-network", ALLOW_ENABLE_NETWORK="false")
    assert refused.returncode == 2
    assert json.loads(refused.stderr) == {"enable_network": ["enabling network is not allowed"]}

    allowed = judge_run(INTERFACES, "--enable-network", ALLOW_ENABLE_NETWORK="true")
    assert allowed.returncode == 0, allowed.stderr
    assert "tap0" in json.loads(allowed.stdout)["stdout"].split()

    # without the switch no IP socket can be created, so not even the interfaces are listed
    without = judge_run(INTERFACES, ALLOW_ENABLE_NETWORK="true")
    assert json.loads(without.stdout)["status"]["description"] == "Runtime Error (NZEC)"
