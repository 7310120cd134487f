"""The docker backend refuses runs on the caller's descriptors (RunSpec.stdin_fd, stdout_fd:
interactive problems) with an internal error naming the native sandbox, and closes them as
the native backend would, so that a peer waiting on the pipe sees EOF. No engine is needed:
the refusal comes before any request."""

from __future__ import annotations

import os

import docker

from judge.sandbox import Outcome, RunSpec
from judge.sandbox.docker_backend import DockerSandbox, DockerSettings


def test_runs_on_given_fds_are_refused_and_the_fds_closed():
    client = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    sandbox = DockerSandbox(client, DockerSettings())
    read_end, write_end = os.pipe()
    try:
        r = sandbox.run(RunSpec(("/bin/true",), stdout_fd=write_end))
        assert r.outcome is Outcome.INTERNAL_ERROR
        assert "interactive problems need the native sandbox" in (r.message or "")
        assert os.read(read_end, 1) == b""  # the write end is closed: EOF
    finally:
        os.close(read_end)
        client.close()
