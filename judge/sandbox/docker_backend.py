"""The docker backend: every run in a fresh container, created through a Docker-compatible
engine's API (Docker, Podman's compat socket; optionally under another runtime such as runsc).

A run's container has a read-only root, no capabilities beyond the three its first process
needs (below), no new privileges, no network (unless the spec asks and the operator allows),
memory = memory+swap, pids, CPU and rlimits set from the spec's limits, and size-limited
tmpfs mounts for /box (the working directory), /tmp and /judge (the run's stdin).

Docker cannot copy files into a tmpfs of a read-only container (`put_archive` refuses), so
the box travels through the container's own streams, which every engine supports:

1. the first process, `WRAPPER` (a POSIX shell script, pid 1, uid 0 with only SETUID,
   SETGID and KILL), unpacks the box and stdin from its stdin (a tar stream we write, then
   close) as the sandbox user;
2. it notes the container's CPU, memory and uptime counters, starts the program as the
   sandbox user with its rlimits (prlimit + setpriv: the program has no capabilities), and
   waits for it. SIGUSR1 from us (wall-clock or output limit) makes it kill every other
   process in the container;
3. it kills what the program left, then appends to stderr a section opened by a random
   per-run marker: its exit status, the counters again, and the box as a tar stream.

The program cannot forge that section: it never sees the marker (it is taken out of the
environment before the program starts), it runs as another uid than pid 1, so it can neither
signal nor trace the wrapper, and pid 1 of a pid namespace ignores the signals it does not
handle. What comes back is parsed in memory (memory_box.py); nothing is written to the
host. Containers carry a label naming their owner and are always removed; `sweep` removes
those of dead owners.
"""

from __future__ import annotations

import io
import math
import os
import resource
import secrets
import select
import socket
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests

from .box import BoxError
from .docker_streams import Capped, Frames, StderrSplit
from .limits import cgroup_memory_bytes
from .memory_box import MemoryBox
from .outcome import decide
from .spec import Limits, Outcome, RunResult, RunSpec
from .wrapper import WRAPPER, Report

LABEL, OWNER_LABEL = "judge.sandbox", "judge.sandbox.owner"
OVERHEAD_BYTES = 16 << 20  # memory for the wrapper shell and tar, on top of the program's
PIDS_OVERHEAD = 3  # the wrapper, the tar that returns the box, and one spare
START_SLACK = 0.2  # seconds between closing the container's stdin and the program's start
KILL_GRACE = 5.0  # seconds the wrapper has to report after SIGUSR1 before a hard kill
IO_TIMEOUT = 30.0
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8"}
# A container's stdio is the engine's attach stream, which carries the box too: it cannot be
# the caller's pipe (RunSpec.stdin_fd, stdout_fd).
FDS_REFUSED = ("interactive problems need the native sandbox (SANDBOX_BACKEND=native): the "
               "docker backend cannot connect a run to a pipe")


@dataclass(frozen=True)
class DockerSettings:
    base_url: str | None = None  # None: DOCKER_HOST & co. from the environment (from_env)
    image: str = "judge0-engine:latest"  # for languages without an `image:` of their own
    runtime: str | None = None  # e.g. "runsc"; None: the engine's default
    user: str = "65534:65534"  # uid:gid the program runs as
    cpus: float = 1.0
    box_size_kb: int = 128 * 1024
    box_inodes: int = 4096
    tmp_kb: int = 64 * 1024
    allow_network: bool = False  # the operator's ALLOW_ENABLE_NETWORK


class DockerSandbox:
    """Runs each command in a fresh container. Not thread-safe: one run at a time."""

    def __init__(self, client: docker.DockerClient, settings: DockerSettings):
        self.client = client
        self.api = client.api
        self.settings = settings
        self.image = settings.image
        self.box = MemoryBox(0, settings.box_size_kb, settings.box_inodes)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def select_image(self, image: str | None) -> None:
        """The image of the language about to be judged (None: the default image)."""
        self.image = image or self.settings.image

    def prepare(self) -> None:
        """Between submissions: an empty box (every run gets a fresh container anyway)."""
        self.box.reset()

    def close(self) -> None:
        self.sweep(own=True)
        self.client.close()

    def sweep(self, own: bool = False) -> int:
        """Remove the labelled containers of owners on this host that are gone (and, with
        `own`, this process's). Returns how many were removed."""
        host = socket.gethostname()
        removed = 0
        for info in self.api.containers(all=True, filters={"label": LABEL}):
            owner_host, _, pid = info["Labels"].get(OWNER_LABEL, "").rpartition(":")
            if owner_host != host or not pid.isdigit():
                continue
            if (own and int(pid) == os.getpid()) or not _alive(int(pid)):
                self._remove(info["Id"])
                removed += 1
        return removed

    # -- one run ---------------------------------------------------------------------------

    def run(self, spec: RunSpec) -> RunResult:
        if spec.given_fds():  # taken over like the native backend's, so their peers see EOF
            for fd in spec.given_fds():
                os.close(fd)
            return RunResult(Outcome.INTERNAL_ERROR, message=FDS_REFUSED)
        try:
            return self._run(spec)
        except (docker.errors.DockerException, requests.RequestException, OSError,
                BoxError) as e:
            return RunResult(Outcome.INTERNAL_ERROR, message=f"docker backend: {e}")

    def _run(self, spec: RunSpec) -> RunResult:
        nonce = secrets.token_hex(16)
        payload, stdin_size = self._stream(spec)
        container = self._create(spec, nonce, stdin_size)
        try:
            sock = self.api.attach_socket(container, params={
                "stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            raw = getattr(sock, "_sock", sock)
            try:
                self.api.start(container)
                raw.settimeout(IO_TIMEOUT)
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
                stdout, stderr, killed, elapsed = self._collect(container, raw, spec.limits,
                                                                nonce)
            finally:
                sock.close()
            state = self.api.inspect_container(container)["State"]
        finally:
            self._remove(container)
        return self._result(spec.limits, nonce, stdout, stderr, killed, elapsed, state)

    def _stream(self, spec: RunSpec) -> tuple[bytes, int]:
        """The container's stdin: one tar stream with the box under box/ and the run's stdin
        as judge/stdin."""
        stdin = spec.stdin
        data = stdin.read_bytes() if isinstance(stdin, Path) else (stdin or b"")
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            self.box.add_to(tar, "box")
            info = tarfile.TarInfo("judge/stdin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return out.getvalue(), len(data)

    def _create(self, spec: RunSpec, nonce: str, stdin_size: int) -> str:
        limits, s = spec.limits, self.settings
        uid, _, gid = s.user.partition(":")
        memory = cgroup_memory_bytes(limits) + self.box.total_bytes() + stdin_size \
            + OVERHEAD_BYTES
        network = "bridge" if spec.network and s.allow_network else "none"
        env = {**BASE_ENV, **dict(spec.env), "JUDGE_NONCE": nonce, "JUDGE_UID": uid,
               "JUDGE_GID": gid or uid, "JUDGE_RLIMITS": _prlimit_args(limits),
               "JUDGE_MERGE": "1" if spec.stderr_to_stdout else "0"}
        host_config = self.api.create_host_config(
            read_only=True, network_mode=network,
            # exec: Docker mounts a tmpfs noexec unless told (Podman does not), and a compiled
            # program runs from the box. Podman 4.3 knows no nr_inodes.
            tmpfs={"/box": f"size={s.box_size_kb}k,mode=1777,exec",
                   "/tmp": f"size={s.tmp_kb}k,mode=1777",
                   "/judge": f"size={stdin_size // 1024 + 1024}k,mode=1777"},
            mem_limit=memory, memswap_limit=memory,
            pids_limit=limits.processes + PIDS_OVERHEAD, nano_cpus=int(s.cpus * 1e9),
            ulimits=_ulimits(limits), cap_drop=["ALL"], cap_add=["SETUID", "SETGID", "KILL"],
            security_opt=["no-new-privileges"], log_config={"type": "none", "config": {}},
            runtime=s.runtime)
        created = self.api.create_container(
            self.image, command=list(spec.argv), entrypoint=["/bin/sh", "-c", WRAPPER, "judge"],
            user="0:0", working_dir="/box", environment=env, stdin_open=True,
            host_config=host_config, labels={LABEL: "1", OWNER_LABEL: self.owner})
        return created["Id"]

    def _collect(self, container: str, raw: socket.socket, limits: Limits, nonce: str
                 ) -> tuple[Capped, StderrSplit, Outcome | None, float]:
        """Read the attached streams until the container closes them, enforcing the output
        cap and the wall clock. Returns stdout, stderr, the limit we stopped it for, and the
        seconds since its stdin was closed."""
        stdout = Capped(limits.output_bytes)
        stderr = StderrSplit(f"<<judge {nonce}>>\n".encode(), limits.output_bytes,
                         self.settings.box_size_kb * 1024 + self.settings.box_inodes * 1024
                         + (1 << 20))
        start = time.monotonic()
        deadline = start + limits.wall_time + START_SLACK
        killed: Outcome | None = None
        hard_killed = False
        frames = Frames()
        raw.setblocking(False)
        while True:
            now = time.monotonic()
            if now >= deadline:
                if killed is None:
                    killed = Outcome.TIME_LIMIT_WALL
                    self._signal(container, "SIGUSR1")
                    deadline = now + KILL_GRACE
                elif not hard_killed:
                    hard_killed = True
                    self._signal(container, "SIGKILL")
                    deadline = now + KILL_GRACE
                else:
                    break
            readable, _, _ = select.select([raw], [], [], min(deadline - now, 0.5))
            if not readable:
                continue
            try:
                chunk = raw.recv(1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                break
            for kind, payload in frames.feed(chunk):
                (stdout if kind == 1 else stderr).add(payload)
            if killed is None and (stdout.over or stderr.program.over):
                killed = Outcome.OUTPUT_LIMIT
                self._signal(container, "SIGUSR1")
                deadline = time.monotonic() + KILL_GRACE
        stderr.finish()
        return stdout, stderr, killed, time.monotonic() - start

    def _signal(self, container: str, signal: str) -> None:
        try:
            self.api.kill(container, signal)
        except docker.errors.APIError:
            pass  # it has just exited

    def _result(self, limits: Limits, nonce: str, stdout: Capped, stderr: StderrSplit,
                killed: Outcome | None, elapsed: float, state: dict) -> RunResult:
        section = stderr.section
        if section is None:
            self.box.lost = "the run ended without returning it"
            if killed is None:
                return RunResult(Outcome.INTERNAL_ERROR, message=(
                    f"the container ended (exit status {state.get('ExitCode')}, "
                    f"OOMKilled {state.get('OOMKilled')}) before reporting"))
            return RunResult(killed, signal=9, wall_time=elapsed,
                             stdout=bytes(stdout.data), stderr=bytes(stderr.program.data),
                             message=_decide_message(killed))
        report = Report.parse(bytes(section.data), nonce)
        self._take_box(report, section.over)
        if not report.unpacked or report.returncode is None:
            return RunResult(Outcome.INTERNAL_ERROR, message="the box could not be unpacked in "
                             "the container: " + " ".join(report.log)[:500])
        result = RunResult(Outcome.OK, cpu_time=report.cpu_ns / 1e9,
                           wall_time=report.wall if report.wall is not None else elapsed,
                           memory_kb=report.memory_bytes // 1024, stdout=bytes(stdout.data),
                           stderr=bytes(stderr.program.data))
        oom = report.oom_kills
        if oom is None:  # no OOM counter: a SIGKILL we did not send, at the limit
            oom = int(report.returncode == 137 and killed is None
                      and report.memory_bytes >= limits.memory_kb * 1024 * 0.95)
        decide(result, report.returncode, killed, oom, limits)
        return result

    def _take_box(self, report: Report, truncated: bool) -> None:
        if report.box_tar is None or truncated:
            self.box.lost = "the container did not return the whole box"
            return
        try:
            self.box.load_tar(report.box_tar, self.settings.box_size_kb * 1024)
        except BoxError as e:
            self.box.lost = str(e)

    def _remove(self, container: str) -> None:
        try:
            self.api.remove_container(container, force=True, v=True)
        except docker.errors.NotFound:
            pass


def _prlimit_args(limits: Limits) -> str:
    """The program's own rlimits (the wrapper and tar are not bound by them): CPU per
    process (SIGXCPU, then SIGKILL a second later), file size, address space per process."""
    soft = math.ceil(limits.cpu_kill_after)
    args = [f"--cpu={soft}:{soft + 1}", "--core=0"]
    if limits.file_size_kb:
        args.append(f"--fsize={limits.file_size_kb * 1024}")
    if limits.per_process_memory:
        args.append(f"--as={limits.memory_kb * 1024}")
    return " ".join(args)


def _nproc_ceiling() -> int:
    """RLIMIT_NPROC counts every process of the uid on the host, so it cannot be a per-run
    limit (pids_limit is); but some engines (Podman 4.3) replace their whole default set once
    any ulimit is given, and their default nproc is more than root may set without
    CAP_SYS_RESOURCE. So: as high as this host allows."""
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 32768
    return pid_max if hard == resource.RLIM_INFINITY else min(hard, pid_max)


def _ulimits(limits: Limits) -> list[docker.types.Ulimit]:
    nproc = _nproc_ceiling()
    out = [docker.types.Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
           docker.types.Ulimit(name="core", soft=0, hard=0),
           docker.types.Ulimit(name="nproc", soft=nproc, hard=nproc)]
    if limits.stack_kb:
        stack = limits.stack_kb * 1024
        out.append(docker.types.Ulimit(name="stack", soft=stack, hard=stack))
    return out


def _decide_message(outcome: Outcome) -> str | None:
    result = RunResult(outcome)
    decide(result, 137, outcome, 0, Limits())
    return result.message


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_docker_sandbox(settings: DockerSettings | None = None) -> DockerSandbox:
    """Connect to the engine, remove what dead workers of this host left, and prove a run
    works in the default image. Raises SandboxUnavailable naming what to fix."""
    from .host import SandboxUnavailable

    settings = settings or DockerSettings()
    where = settings.base_url or os.environ.get("DOCKER_HOST") or "the default Docker socket"
    try:
        client = (docker.DockerClient(base_url=settings.base_url) if settings.base_url
                  else docker.from_env())
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as e:
        raise SandboxUnavailable(f"no Docker-compatible engine answers at {where}: {e}") from e
    sandbox = DockerSandbox(client, settings)
    try:
        sandbox.sweep()
        client.images.get(settings.image)
    except docker.errors.ImageNotFound as e:
        client.close()
        raise SandboxUnavailable(f"image {settings.image!r} not found on {where}: build it "
                                 "or set DOCKER_DEFAULT_IMAGE") from e
    except (docker.errors.DockerException, requests.RequestException) as e:
        client.close()
        raise SandboxUnavailable(f"the engine at {where} failed: {e}") from e
    result = sandbox.run(RunSpec(("/bin/true",), Limits(cpu_time=5, wall_time=10)))
    if result.outcome is not Outcome.OK:
        sandbox.close()
        raise SandboxUnavailable(f"trial run of /bin/true in {settings.image} ended with "
                                 f"{result.outcome.value}: {result.message}")
    return sandbox
