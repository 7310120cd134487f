"""Run one untrusted command in an isolated box with Judge0's limits and report what happened.

    sandbox = open_sandbox(SandboxSettings())      # claims a free box on this host
    sandbox.box.reset(); sandbox.box.write("main.py", b"print(1)")
    result = sandbox.run(RunSpec(("/usr/bin/python3", "main.py"), Limits(cpu_time=1)))
    sandbox.close()

`open_sandbox` refuses to start (SandboxUnavailable, with what to fix) rather than run code
with less isolation than promised.
"""

from __future__ import annotations

from .box import Box, BoxError
from .cgroups import CgroupError
from .host import SandboxSettings, SandboxUnavailable, check_host, open_sandbox
from .native import NativeSandbox, SandboxError
from .spec import BoxFiles, Limits, Outcome, RunResult, RunSpec, Sandbox

__all__ = [
    "Box", "BoxError", "BoxFiles", "Sandbox", "CgroupError", "Limits", "NativeSandbox", "Outcome", "RunResult",
    "RunSpec", "SandboxError", "SandboxSettings", "SandboxUnavailable", "check_host",
    "open_sandbox",
]
