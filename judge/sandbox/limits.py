"""A run's limits as the kernel applies them: rlimits set in the run's process, and the memory
its cgroup may hold."""

from __future__ import annotations

import math
import resource

from .spec import Limits

PIDS_OVERHEAD = 2  # the outer bwrap process and bwrap's init inside the pid namespace
_HARD_LIMITS = {r: resource.getrlimit(r)[1] for r in (
    resource.RLIMIT_STACK, resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE, resource.RLIMIT_CPU,
    resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_CORE, resource.RLIMIT_MSGQUEUE)}


def _clamped(res: int, value: int) -> int:
    """Never above our own hard limit: root here lacks CAP_SYS_RESOURCE and cannot raise it."""
    hard = _HARD_LIMITS[res]
    inf = resource.RLIM_INFINITY
    return hard if hard != inf and (value == inf or value > hard) else value


def rlimits(limits: Limits) -> list[tuple[int, tuple[int, int]]]:
    """(resource, (soft, hard)) pairs for the run. CPU: per process in per-process mode
    (SIGXCPU at the soft limit), otherwise only a backstop the supervisor normally beats."""
    inf = resource.RLIM_INFINITY
    wanted = {
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_MSGQUEUE: 0,  # no POSIX message queues: they would outlive the run
        resource.RLIMIT_NOFILE: limits.open_files,
        resource.RLIMIT_STACK: limits.stack_kb * 1024 if limits.stack_kb else inf,
        resource.RLIMIT_FSIZE: limits.file_size_kb * 1024 if limits.file_size_kb else inf,
        resource.RLIMIT_NPROC: limits.processes + PIDS_OVERHEAD + 1,
    }
    if limits.per_process_memory:
        wanted[resource.RLIMIT_AS] = limits.memory_kb * 1024
    out = [(res, (_clamped(res, value), _clamped(res, value))) for res, value in wanted.items()]
    if limits.per_process_time:
        soft = math.ceil(limits.cpu_kill_after)
        cpu = (_clamped(resource.RLIMIT_CPU, soft), _clamped(resource.RLIMIT_CPU, soft + 1))
    else:
        backstop = _clamped(resource.RLIMIT_CPU, math.ceil(limits.cpu_kill_after) + 1)
        cpu = (backstop, backstop)
    return [(resource.RLIMIT_CPU, cpu), *out]


def cgroup_memory_bytes(limits: Limits) -> int:
    """Per-process memory mode limits each process's address space; the cgroup then only
    keeps the run as a whole from taking the machine: memory_limit for each process, up to 16
    of them, and never more than the ceiling (MAX_MEMORY_LIMIT)."""
    if limits.per_process_memory:
        total = limits.memory_kb * min(limits.processes, 16)
        return min(total, max(limits.memory_kb, limits.memory_ceiling_kb)) * 1024
    return limits.memory_kb * 1024
