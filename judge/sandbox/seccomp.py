"""The seccomp deny-list handed to bubblewrap (`bwrap --seccomp FD`).

Default-allow with EPERM for the system calls that only serve to attack the kernel or escape
the box (roughly Docker's default profile), plus EACCES for every socket family but AF_UNIX
(and, for a run with networking, IPv4, IPv6 and netlink). Built once per process with libseccomp (through pyseccomp) and kept as
raw BPF bytes; each run gets them through a memfd.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import tempfile

DENIED_SYSCALLS = (
    # debugging other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    # mount tables and namespaces
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
    # kernel keyrings, BPF, perf, userfaultfd, io_uring: large kernel attack surface
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "syslog", "quotactl", "lookup_dcookie", "open_by_handle_at",
    "name_to_handle_at", "vhangup", "fanotify_init",
)  # fmt: skip


# Socket families a run may create. Runtimes use AF_UNIX socketpairs internally; a run with
# networking also gets IP sockets and netlink (glibc's getaddrinfo asks the kernel for the
# configured addresses). Packet, raw-ish and exotic families stay refused either way.
ALLOWED_FAMILIES = (socket.AF_UNIX,)
NETWORK_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK)


def _refused_socket_families(network: bool) -> list[tuple[int, int | None]]:
    """Ranges [low, high] of refused families; high None means "and everything above"."""
    allowed = sorted(NETWORK_FAMILIES if network else ALLOWED_FAMILIES)
    ranges: list[tuple[int, int | None]] = []
    low = 0
    for family in allowed:
        if family > low:
            ranges.append((low, family - 1))
        low = family + 1
    ranges.append((low, None))
    return ranges


@functools.cache
def filter_bytes(network: bool) -> bytes:
    """The BPF program, compiled once per process for each network setting."""
    import pyseccomp as seccomp  # libseccomp through ctypes; imported lazily: only workers need it

    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        try:
            f.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (RuntimeError, ValueError, OSError):
            pass  # a syscall this libseccomp does not know cannot be called by name either
    for low, high in _refused_socket_families(network):
        # libseccomp allows one comparison per argument in a rule: a bounded range becomes
        # one EQ rule per family, the open top range a single GT rule.
        if high is None:
            f.add_rule(seccomp.ERRNO(errno.EACCES), "socket", seccomp.Arg(0, seccomp.GT, low - 1))
            continue
        for family in range(low, high + 1):
            f.add_rule(seccomp.ERRNO(errno.EACCES), "socket", seccomp.Arg(0, seccomp.EQ, family))
    with tempfile.TemporaryFile() as tmp:
        f.export_bpf(tmp)
        tmp.seek(0)
        return tmp.read()


def filter_fd(network: bool) -> int:
    """A fresh read-only-positioned fd holding the filter, for `bwrap --seccomp FD`.
    The caller closes it after spawning bwrap."""
    fd = os.memfd_create("judge-seccomp", os.MFD_CLOEXEC)  # see stdio.memfd
    os.write(fd, filter_bytes(network))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
