"""One real sandbox for the sandbox tests, C helper programs compiled once, and a check at the
end of the session that nothing of the sandbox is left on the host."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from judge.sandbox import Limits, NativeSandbox, Outcome, RunSpec, SandboxSettings, open_sandbox

from ..hostcheck import live_processes, mounted, run_cgroups

# Overridable so that two test sessions can share a machine without sharing boxes or uids.
BOXES = Path(os.environ.get("TEST_SANDBOX_BOXES_DIR", "/var/lib/judge/test-boxes"))
# its own uid range: the end-to-end engine's boxes run in the same session
FIRST_UID = int(os.environ.get("TEST_SANDBOX_FIRST_UID", "61000"))
PROGRAMS = Path(__file__).parent / "programs"


_open: list[NativeSandbox] = []  # the session's sandbox, and others tests keep open


def live_box_processes() -> list[str]:
    """Box processes other than the open sandboxes' warm sessions (bwrap + zygote)."""
    exclude = set().union(*(sandbox.session_pids() for sandbox in _open))
    return live_processes(FIRST_UID, 1000, exclude)


@contextmanager
def another_sandbox(**settings: Any) -> Iterator[NativeSandbox]:
    """One more sandbox of this process on the test boxes (the next free box: its own box
    and uid), closed afterwards; its warm session counts as expected meanwhile."""
    sandbox = open_sandbox(SandboxSettings(boxes_dir=BOXES, first_uid=FIRST_UID, **settings))
    _open.append(sandbox)
    try:
        yield sandbox
    finally:
        _open.remove(sandbox)
        sandbox.close()
    assert not mounted(f" {sandbox.box.path} ")  # mountinfo's fields are space-separated


@pytest.fixture(scope="session")
def compiled() -> Iterator[dict[str, bytes]]:
    """The C programs of programs/*.c, compiled on the host once: name -> ELF bytes."""
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for source in sorted(PROGRAMS.glob("*.c")):
            binary = Path(tmp, source.stem)
            subprocess.run(["gcc", "-O1", "-o", str(binary), str(source)], check=True)
            out[source.stem] = binary.read_bytes()
    yield out


@pytest.fixture(scope="session")
def session_sandbox() -> Iterator[NativeSandbox]:
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root (it switches to per-box uids and manages cgroups)")
    sandbox = open_sandbox(SandboxSettings(boxes_dir=BOXES, first_uid=FIRST_UID))
    _open.append(sandbox)
    yield sandbox
    _open.remove(sandbox)
    sandbox.close()
    # Clean-up guarantee: nothing of the sandbox outlives it.
    assert live_box_processes() == []
    assert run_cgroups(FIRST_UID, 1000) == []
    assert not mounted(str(BOXES))


class Box:
    """The sandbox with a freshly reset box, plus helpers to run things in it."""

    def __init__(self, sandbox: NativeSandbox, compiled: dict[str, bytes]):
        self.sandbox = sandbox
        self.compiled = compiled
        sandbox.box.reset()

    def install(self, *names: str) -> None:
        for name in names:
            self.sandbox.box.write(name, self.compiled[name], mode=0o755)

    def run(self, *argv: str, stdin: bytes | Path | None = None, **limits):
        spec_options = {k: limits.pop(k) for k in ("env", "stderr_to_stdout") if k in limits}
        return self.sandbox.run(RunSpec(argv, Limits(**limits), stdin=stdin, **spec_options))

    def sh(self, script: str, **limits):
        return self.run("/bin/bash", "-c", script, **limits)


@pytest.fixture
def box(session_sandbox: NativeSandbox, compiled: dict[str, bytes]) -> Box:
    return Box(session_sandbox, compiled)


__all__ = ["Box", "Outcome"]
