"""The docker backend against a real Docker-compatible engine: TEST_DOCKER_HOST, else the
socket `make podman` starts. Without one, every test here is skipped (in CI: fails), saying
how to get one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import docker
import docker.errors
import pytest
import requests

from judge.sandbox import Limits, RunSpec
from judge.sandbox.docker_backend import (
    LABEL,
    OWNER_LABEL,
    DockerSandbox,
    DockerSettings,
    open_docker_sandbox,
)

SOCKET = os.environ.get("TEST_DOCKER_HOST", "unix:///run/judge-podman/podman.sock")
IMAGE = os.environ.get("TEST_DOCKER_IMAGE", "localhost/judge-test-base:bookworm")


def our_containers(sandbox: DockerSandbox) -> list[str]:
    """Ids of the containers this test process's sandbox still has on the engine."""
    return [c["Id"] for c in sandbox.api.containers(all=True, filters={"label": LABEL})
            if c["Labels"].get(OWNER_LABEL) == sandbox.owner]


def unavailable(reason: str) -> None:
    """Skip, except in CI (.ci/run brings the socket up there): a silent skip is no test."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    try:
        client = docker.DockerClient(base_url=SOCKET)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException):
        unavailable(f"no Docker-compatible socket at {SOCKET}: run `make podman` "
                    "(or set TEST_DOCKER_HOST)")
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        unavailable(f"image {IMAGE} is missing on {SOCKET}: run `make podman` "
                    "(or set TEST_DOCKER_IMAGE)")
    yield client
    client.close()


@pytest.fixture(scope="session")
def session_sandbox(engine: docker.DockerClient) -> Iterator[DockerSandbox]:
    sandbox = open_docker_sandbox(DockerSettings(base_url=SOCKET, image=IMAGE))
    yield sandbox
    sandbox.close()


class Box:
    """The sandbox with an empty box, plus helpers to run things in it."""

    def __init__(self, sandbox: DockerSandbox):
        self.sandbox = sandbox
        sandbox.box.reset()

    def run(self, *argv: str, stdin: bytes | None = None, **limits):
        options = {k: limits.pop(k) for k in ("env", "stderr_to_stdout", "network")
                   if k in limits}
        return self.sandbox.run(RunSpec(argv, Limits(**limits), stdin=stdin, **options))

    def sh(self, script: str, **limits):
        return self.run("/bin/bash", "-c", script, **limits)

    def py(self, source: str, **limits):
        return self.run("/usr/bin/python3", "-c", source, **limits)


@pytest.fixture
def box(session_sandbox: DockerSandbox) -> Iterator[Box]:
    yield Box(session_sandbox)
    assert our_containers(session_sandbox) == []  # every run's container is gone
