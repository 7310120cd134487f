"""The native backend: bubblewrap + a cgroup per run + rlimits + seccomp (the supervisor loop
that enforces the clocks and the output cap is supervise.py).

One `NativeSandbox` owns one box (see box.py) for its lifetime and runs one command at a time
in it. A run:

1. creates the run's cgroup (memory and pids limits);
2. starts the program, held before its first instruction, in one of two ways:
   - warm (the usual): the box's zygote sandbox (zygote.py), built once per box session,
     forks the run's process, which applies the run's rlimits and reports its pid; the
     supervisor moves it into the cgroup;
   - cold (runs with networking, or a host without a C compiler for the zygote): fork; the
     child joins the cgroup, sets its rlimits, drops to the box's unprivileged uid and execs
     bwrap, which builds the namespaces and execs the gate shell (bwrap.GATE); for a run with
     networking the supervisor then gives its namespace a firewalled uplink (network.py);
3. notes the cgroup's CPU counter, resets the peak memory and releases the program, so sandbox
   set-up is not billed to it;
4. polls the process fd, the output pipes and the cgroup CPU counter, killing the whole cgroup
   on the wall-clock limit, the CPU limit (limit + extra time) or the output cap;
5. kills whatever is left in the cgroup, reads CPU, peak memory and the OOM counter, removes it.
"""

from __future__ import annotations

import ctypes
import fcntl
import itertools
import logging
import os
import resource
import signal
import socket
import subprocess
from pathlib import Path

from . import bwrap, network, seccomp, zygote
from .box import Box, BoxError
from .cgroups import Hierarchy, RunCgroup
from .limits import PIDS_OVERHEAD, cgroup_memory_bytes, rlimits
from .outcome import MESSAGES
from .spec import Outcome, RunResult, RunSpec
from .stdio import Stdio, memfd
from .supervise import Launch, drain, follow, wait_ready
from .zygote import Zygote, ZygoteError

log = logging.getLogger(__name__)
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 38, 36
CLOSE_RANGE_CLOEXEC = 4
SETUP_TIMEOUT = 10.0  # seconds bwrap may take to build the sandbox
_PEEK = os.WEXITED | os.WNOHANG | os.WNOWAIT


class SandboxError(RuntimeError):
    """The sandbox could not run the command; the run is reported as an internal error."""


def _children() -> list[int]:
    """This process's children: each thread has its own (the thread that forked them)."""
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        try:
            pids += map(int, Path(f"/proc/self/task/{task}/children").read_text().split())
        except OSError:
            pass  # the thread has ended
    return pids


def _exited_child(uid: int) -> int | None:
    """A child of this process that has exited, not yet reaped, and ran as `uid`; or None.
    waitid(P_ALL) offers the first such zombie of any uid; when that is someone else's
    (another sandbox's in this process, a subprocess's), each child is asked by pid."""
    try:
        info = os.waitid(os.P_ALL, 0, _PEEK)
    except ChildProcessError:
        return None
    if info is None or info.si_uid == uid:
        return info.si_pid if info is not None else None
    for pid in _children():
        try:
            info = os.waitid(os.P_PID, pid, _PEEK)
        except ChildProcessError:
            continue
        if info is not None and info.si_uid == uid:
            return pid
    return None


class NativeSandbox:
    """Runs commands in one box with bubblewrap. Not thread-safe: one run at a time. Several
    sandboxes of one process may run at once in threads (an interactive run's two), each
    from a thread that outlives its processes: they get PR_SET_PDEATHSIG, which the kernel
    ties to the thread that forked them, so a warm session started from a thread that then
    ends would be killed with it."""

    def __init__(self, box: Box, hierarchy: Hierarchy, *, ro_paths: list[str] | None = None,
                 tmp_kb: int = 64 * 1024, zygotes: bool = True):
        binary = bwrap.bwrap_binary()
        if binary is None:
            raise SandboxError("bwrap not found: install the 'bubblewrap' package")
        self.bwrap = binary
        self.box = box
        self.hierarchy = hierarchy
        self.ro_paths = bwrap.etc_paths() if ro_paths is None else ro_paths
        self.tmp_bytes = tmp_kb * 1024
        self._seq = itertools.count()
        self._zygote_binary = zygote.binary(box.path.parent) if zygotes else None
        # read once: every new session copies it into its sandbox from a memfd
        self._zygote_image = self._zygote_binary.read_bytes() if self._zygote_binary else b""
        self._zygote: Zygote | None = None
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # see _reap_strays

    def close(self) -> None:
        """Give the box back (its sandbox stopped, its tmpfs unmounted, its lock released)."""
        self._stop_zygote()
        self._reap_strays()
        self.box.release()

    def session_pids(self) -> set[int]:
        """Host pids of the box's warm sandbox (bwrap and the zygote), which live between
        runs; everything else of the box uid is a run's and dies with it."""
        return self._zygote.pids() if self._zygote is not None else set()

    def prepare(self) -> None:
        """Get ready for the next submission off its hot path, or for the next run of this
        one from an empty box (Pipeline.restore): a fresh box and, bound to it, a warm
        sandbox waiting for the first run."""
        zyg = self._zygote
        if (zyg is not None and zyg.generation == self.box.generation and zyg.alive()
                and zyg.submissions < zygote.SESSION_SUBMISSIONS):
            try:
                zyg.clean(SETUP_TIMEOUT)  # the cheap way: the same sandbox, emptied
                self.box.fresh = True
                return
            except (OSError, ZygoteError) as e:
                log.warning("box %s: the sandbox could not be cleaned (%s); starting a new one",
                            self.box.id, e)
        try:
            self.box.reset()
            if self._zygote_binary is not None:
                self._warm_zygote(self.ro_paths)
        except (OSError, BoxError, SandboxError, ZygoteError, subprocess.SubprocessError) as e:
            log.warning("cannot prepare box %s ahead of time: %s", self.box.id, e)
            self._stop_zygote()  # the next submission tries again, and reports a failure

    def run(self, spec: RunSpec) -> RunResult:
        stdio = Stdio(spec, self.box.uid)  # from here it owns the spec's stdin_fd, stdout_fd
        try:
            return self._run(spec, stdio)
        finally:
            stdio.close()

    def _run(self, spec: RunSpec, stdio: Stdio) -> RunResult:
        self._reap_strays()  # the previous run's pid-1 has exited by now
        limits = spec.limits
        # The box's files are in memory (tmpfs), charged to whichever step wrote them (the
        # compile step's cgroup is gone by now): they count against this run's limit.
        held = self.box.held_bytes()
        room = cgroup_memory_bytes(limits) - held
        if room <= 0:
            return RunResult(Outcome.MEMORY_LIMIT, memory_kb=held // 1024, signal=signal.SIGKILL,
                             message=MESSAGES[Outcome.MEMORY_LIMIT])
        name = f"{self.box.cgroup_prefix}{os.getpid()}-{next(self._seq)}"
        try:
            group = self.hierarchy.create(name, room, limits.processes + PIDS_OVERHEAD)
        except OSError as e:
            return RunResult(Outcome.INTERNAL_ERROR, message=f"cannot create cgroup: {e}")
        try:
            ro_paths = self.ro_paths + [path for path in bwrap.etc_paths(spec.mounts)
                                        if path not in self.ro_paths]
            self.box.fresh = False
            if spec.network or self._zygote_binary is None:
                launch = self._launch_bwrap(spec, group, ro_paths, stdio)
            else:
                launch = self._launch_in_zygote(spec, group, ro_paths, stdio)
            try:
                return follow(group, launch, spec.limits, held)
            finally:
                launch.close()
        except ZygoteError as e:
            self._stop_zygote()  # the next run starts a new one
            return RunResult(Outcome.INTERNAL_ERROR, message=f"sandbox failure: {e}")
        except (OSError, SandboxError, subprocess.SubprocessError) as e:
            return RunResult(Outcome.INTERNAL_ERROR, message=f"sandbox failure: {e}")
        finally:
            group.destroy()
            self._reap_strays()

    def _reap_strays(self) -> None:
        """Reap sandbox processes re-parented to us (we are a child subreaper): bwrap's pid-1
        outlives the outer bwrap by a few ms. Left to an init that reaps late (or to no init:
        a worker that is PID 1 of its container), they would count against the box uid's
        RLIMIT_NPROC. Only zombies of this box's uid are reaped: any other is someone else's
        to wait for (another sandbox's of this process, whose scan must not stop ours)."""
        while (pid := _exited_child(self.box.uid)) is not None:
            if self._zygote is not None and pid == self._zygote.proc.pid:
                self._stop_zygote()  # it died; stop() waits for it
                continue
            try:
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                pass  # waited for meanwhile

    # -- launching -------------------------------------------------------------------------

    def _preexec(self, group: RunCgroup | None, limit_calls: list, child_fds: list[int],
                 targets: tuple[int, ...]):
        uid = self.box.uid

        def preexec() -> None:  # between fork and exec: no locks, no threads, keep it plain
            if group is not None:
                group.join_self()
            # Move the hand-over fds to the fixed numbers bwrap.argv() names (before
            # RLIMIT_NOFILE: the copies may need fd numbers above the program's limit).
            # Everything else closes at exec, the gaps between the targets too (a zygote's
            # fd 4): no descriptor of this process (another sandbox's pipe) reaches bwrap.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 16) for fd in child_fds]
            _libc.close_range(3, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
            for target, fd in zip(targets, high, strict=True):
                os.dup2(fd, target)
            for res, value in limit_calls:
                resource.setrlimit(res, value)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

        return preexec

    def _spawn_bwrap(self, *, command: list[str], extra: list[str], ro_paths: list[str],
                     env: dict[str, str], network_on: bool, hand_over: list[int],
                     targets: tuple[int, ...], group: RunCgroup | None, limit_calls: list,
                     stdin: int, stdout: int, stderr: int) -> subprocess.Popen:
        """Start bwrap as the box uid with `hand_over` fds at `targets` plus the seccomp
        filter and the passwd/group files (bwrap.CHILD_FDS / bwrap.ZYGOTE_FDS)."""
        argv = bwrap.argv(bwrap=self.bwrap, box_path=str(self.box.path), uid=self.box.uid,
                          command=command, tmp_bytes=self.tmp_bytes, ro_paths=ro_paths,
                          env=env.items(), network=network_on, extra=extra)
        created = [seccomp.filter_fd(network_on),
                   memfd("judge-passwd", bwrap.passwd_line(self.box.uid)),
                   memfd("judge-group", bwrap.group_line(self.box.uid))]
        try:
            child_fds = [*hand_over[:targets.index(bwrap.SECCOMP_FD)], *created,
                         *hand_over[targets.index(bwrap.SECCOMP_FD):]]
            return subprocess.Popen(
                argv, stdin=stdin, stdout=stdout, stderr=stderr,
                preexec_fn=self._preexec(group, limit_calls, child_fds, targets),
                close_fds=False, start_new_session=True, cwd=self.box.path,
                env={"PATH": "/usr/bin:/bin"})
        finally:
            for fd in created:
                os.close(fd)

    def _launch_bwrap(self, spec: RunSpec, group: RunCgroup, ro_paths: list[str],
                      stdio: Stdio) -> Launch:
        """The cold path: a bwrap of its own, started through the gate shell."""
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        info_r, info_w = os.pipe2(os.O_CLOEXEC) if spec.network else (None, None)
        hand_over = [ready_w, go_r]
        targets = bwrap.CHILD_FDS
        owned: list[int] = []  # ours to close once bwrap has them
        if info_w is not None:  # networking: bwrap.NETWORK_FDS
            owned = [memfd("judge-resolv", network.RESOLV_CONF),
                     memfd("judge-hosts", network.HOSTS)]
            hand_over += [info_w, *owned]
            targets += bwrap.NETWORK_FDS
        try:
            stdin, stdout, stderr = stdio.open()
            proc = self._spawn_bwrap(
                command=bwrap.gated(spec.argv), extra=[], ro_paths=ro_paths,
                env={**dict(bwrap.BASE_ENV), **dict(spec.env)}, network_on=spec.network,
                hand_over=hand_over, targets=targets, group=group,
                limit_calls=rlimits(spec.limits), stdin=stdin, stdout=stdout, stderr=stderr)
            pidfd = os.pidfd_open(proc.pid)
        except BaseException:
            for fd in (ready_r, go_w, info_r):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            for fd in (ready_w, go_r, info_w, *owned):
                if fd is not None:
                    os.close(fd)
            stdio.handed_over()
        streams = stdio.detach()
        launch = Launch(pidfd, go_w, streams, proc.wait, stdout=stdio.stdout,
                        stderr=stdio.stderr, fds=[fd for fd in (ready_r, info_r) if fd is not None])
        try:
            if not wait_ready(ready_r, launch.pidfd, SETUP_TIMEOUT):
                proc.wait()
                err = b"".join(drain(fd, 4096) for fd in streams)
                raise SandboxError(f"bubblewrap did not start the program (exit status "
                                   f"{proc.returncode}): {err.decode(errors='replace').strip()}")
            if info_r is not None:
                try:
                    uplink = self._connect(info_r)
                except SandboxError:
                    group.kill_all()
                    proc.wait()
                    raise
                launch.cleanup.insert(0, uplink.close)
        except BaseException:
            launch.close()
            raise
        return launch

    def _launch_in_zygote(self, spec: RunSpec, group: RunCgroup, ro_paths: list[str],
                          stdio: Stdio) -> Launch:
        """The warm path: the box's zygote forks the run; we put it in its cgroup."""
        zyg = self._warm_zygote(ro_paths)
        request = zygote.encode_request(spec.argv, {**dict(bwrap.BASE_ENV), **dict(spec.env)},
                                        rlimits(spec.limits))
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        try:
            try:
                pid = zyg.launch(request, [*stdio.open(), go_r], SETUP_TIMEOUT)
            finally:
                os.close(go_r)
                stdio.handed_over()
            pidfd = os.pidfd_open(pid)
        except BaseException:
            os.close(go_w)
            raise
        # A run we stop following leaves the zygote owing us its status: start afresh.
        launch = Launch(pidfd, go_w, stdio.detach(),
                        lambda: os.waitstatus_to_exitcode(zyg.wait_status(SETUP_TIMEOUT)),
                        stdout=stdio.stdout, stderr=stdio.stderr, abandoned=self._stop_zygote)
        try:
            group.attach(pid)
        except BaseException:
            launch.close()
            raise
        return launch

    def _warm_zygote(self, ro_paths: list[str]) -> Zygote:
        """The box's zygote for the current box tmpfs and these mounts, started if needed."""
        zyg = self._zygote
        if zyg is not None and (zyg.generation != self.box.generation
                                or zyg.ro_paths != ro_paths or not zyg.alive()):
            self._stop_zygote()
            zyg = None
        if zyg is not None:
            return zyg
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        image = memfd("judge-zygote", self._zygote_image)
        try:
            extra, command = bwrap.zygote()
            with open(os.devnull, "rb+") as null:
                proc = self._spawn_bwrap(
                    command=command, extra=extra, ro_paths=ro_paths, env=dict(bwrap.BASE_ENV),
                    network_on=False, hand_over=[theirs.fileno(), image],
                    targets=bwrap.ZYGOTE_FDS, group=None, limit_calls=zygote.RLIMITS,
                    stdin=null.fileno(), stdout=null.fileno(), stderr=subprocess.PIPE)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            os.close(image)
        zyg = Zygote(proc, ours, self.box.generation, ro_paths)
        try:
            zyg.wait_ready(SETUP_TIMEOUT)
        except ZygoteError as e:
            zyg.control.close()
            err = proc.stderr.read(4096) if proc.stderr else b""  # type: ignore[union-attr]
            zyg.stop()
            raise SandboxError(f"bubblewrap did not start the sandbox (exit status "
                               f"{proc.returncode}): {err.decode(errors='replace').strip()}"
                               ) from e
        self._zygote = zyg
        return zyg

    def _stop_zygote(self) -> None:
        if self._zygote is not None:
            zyg, self._zygote = self._zygote, None
            zyg.stop()

    @staticmethod
    def _connect(info_r: int) -> network.Uplink:
        """Give the run's network namespace its firewalled uplink (see network.py)."""
        try:
            return network.attach(network.sandbox_pid(info_r, SETUP_TIMEOUT))
        except (network.NetworkError, OSError) as e:
            raise SandboxError(f"networking: {e}") from e

