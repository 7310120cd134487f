"""A box: the sandbox's writable working directory and the host uid that owns it.

Each box N has a host directory `<boxes_dir>/<N>` on which a size- and inode-limited tmpfs is
mounted (the program cannot fill the host's disk), owned by a dedicated unprivileged host uid
`first_uid + N` (never shared by two live runs, so per-uid limits and kills are exact). A box
is claimed by one worker process through an flock on `<boxes_dir>/<N>.lock`; the kernel drops
the lock when the process dies, so the next claimant knows the previous owner is gone and
wipes what it left.

The trusted side never follows anything the program created: files are written with
`openat(O_NOFOLLOW | O_EXCL)` relative to a directory fd, read with O_NOFOLLOW, and the box
is emptied by unmounting its tmpfs, not by walking it (Judge0's CVE-2024-28185/28189 came
from following planted symlinks during clean-up).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p,) * 3 + (ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
MS_NOSUID, MS_NODEV = 2, 4
MNT_DETACH = 2
UID_LOCKS = Path("/run/judge/uids")  # host-wide: one live claim per sandbox uid


class BoxError(RuntimeError):
    """The box cannot be prepared; the message says why."""


def _mount_tmpfs(path: Path, options: str) -> None:
    if _libc.mount(b"judge-box", str(path).encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                   options.encode()) != 0:
        err = ctypes.get_errno()
        raise BoxError(f"cannot mount a tmpfs on {path}: {os.strerror(err)} (the worker must "
                       "run as root, or with CAP_SYS_ADMIN in its mount namespace)")


def _unmount(path: Path) -> None:
    while _libc.umount2(str(path).encode(), MNT_DETACH) == 0:
        pass  # several stacked mounts (e.g. after a crash during reset): remove them all
    err = ctypes.get_errno()
    if err not in (errno.EINVAL, errno.ENOENT):  # EINVAL: not a mount point any more
        raise BoxError(f"cannot unmount {path}: {os.strerror(err)}")


def is_mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


class Box:
    """Box number `box_id`: host directory, owner uid, size limits."""

    def __init__(self, boxes_dir: Path, box_id: int, first_uid: int = 60000,
                 size_kb: int = 256 * 1024, inodes: int = 4096):
        self.id = box_id
        self.uid = first_uid + box_id
        self.path = Path(boxes_dir) / str(box_id)
        self.size_kb = size_kb
        self.inodes = inodes
        self._lock_fds: list[int] = []
        self.generation = 0  # counts the tmpfs mounts: a sandbox bound to an older one is stale
        self.fresh = False  # an empty tmpfs nothing has written to or run in since its mount

    @property
    def cgroup_prefix(self) -> str:
        """Run cgroups of this box are named `<prefix><pid>-<n>`. The uid, not the box number,
        names them: uids are unique on a host even across differently configured boxes dirs."""
        return f"box{self.uid}-"

    # -- ownership -------------------------------------------------------------------------

    def try_claim(self) -> bool:
        """Take the box for this process if no live process holds it. Two locks: the box's
        own (in its boxes dir) and its uid's (host-wide), so two differently configured
        boxes dirs can never run, or clean up after, the same uid at once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        UID_LOCKS.mkdir(parents=True, exist_ok=True)
        fds = []
        for lock in (self.path.parent / f"{self.id}.lock", UID_LOCKS / f"{self.uid}.lock"):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                for held in fds:
                    os.close(held)
                return False
        self._lock_fds = fds
        return True

    def release(self) -> None:
        _unmount(self.path)
        self.fresh = False
        for fd in self._lock_fds:
            os.close(fd)
        self._lock_fds = []

    # -- contents --------------------------------------------------------------------------

    def reset(self) -> None:
        """Give the box a fresh, empty tmpfs (whatever the last program left is dropped
        without being looked at). A box that is still fresh is left as it is."""
        if self.fresh:
            return
        self.path.mkdir(mode=0o755, exist_ok=True)
        _unmount(self.path)
        _mount_tmpfs(self.path, f"size={self.size_kb}k,nr_inodes={self.inodes},mode=0755,"
                                f"uid={self.uid},gid={self.uid}")
        self.generation += 1
        self.fresh = True

    def _dir_fd(self) -> int:
        return os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def write(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """Create `name` (a plain name, no directories) in the box, owned by the box uid.
        Fails rather than follow or overwrite anything already there."""
        if "/" in name or name in ("", ".", ".."):
            raise BoxError(f"not a plain file name: {name!r}")
        dfd = self._dir_fd()
        try:
            self._create(dfd, name, data, mode)
        finally:
            os.close(dfd)

    def replace(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """Write `name`, first removing whatever has that name (unlink never follows a
        symlink: a planted link is removed, not its target)."""
        dfd = self._dir_fd()
        try:
            try:
                os.unlink(name, dir_fd=dfd)
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                raise BoxError(f"{name!r} is a directory in the box") from None
            self._create(dfd, name, data, mode)
        finally:
            os.close(dfd)

    def _create(self, dfd: int, rel: str, data: bytes, mode: int) -> None:
        self.fresh = False
        fd = os.open(rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode, dir_fd=dfd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchown(fd, self.uid, self.uid)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def read(self, name: str, limit: int) -> bytes | None:
        """Read at most `limit` bytes of regular file `name`, or None when it is absent or not
        a regular file (a symlink, FIFO or device planted by the program is never opened)."""
        dfd = self._dir_fd()
        try:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                             dir_fd=dfd)
            except OSError:
                return None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None
                return os.read(fd, limit)
            finally:
                os.close(fd)
        finally:
            os.close(dfd)

    def held_bytes(self) -> int:
        """What the box's tmpfs holds (pages in memory): a run's memory limit counts it."""
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def snapshot(self, max_bytes: int, strict: bool = False
                 ) -> list[tuple[str, int, bytes | None]]:
        """The box's regular files and directories as (relative path, mode, bytes or None for a
        directory), every directory listed before what it holds. Walked one level at a time
        without following symlinks and without recursion (a program may nest directories as
        deep as the box's inodes allow). Symlinks, FIFOs and sockets are skipped, or with
        `strict` refused (BoxError); so is more than `max_bytes` in total."""
        entries: list[tuple[str, int, bytes | None]] = []
        total = 0
        pending: list[list[str]] = [[]]  # directories still to list, depth first
        with _Cursor(self._dir_fd()) as cursor:
            while pending:
                parts = pending.pop()
                cursor.move(parts)
                subdirectories = []
                for name in sorted(os.listdir(cursor.fd)):
                    st = os.stat(name, dir_fd=cursor.fd, follow_symlinks=False)
                    rel = "/".join([*parts, name])
                    if stat.S_ISDIR(st.st_mode):
                        entries.append((rel, stat.S_IMODE(st.st_mode), None))
                        subdirectories.append([*parts, name])
                    elif stat.S_ISREG(st.st_mode):
                        total += st.st_size
                        if total > max_bytes:
                            raise BoxError(f"the box holds more than {max_bytes} bytes")
                        data = _read_regular(cursor.fd, name, st.st_size)
                        entries.append((rel, stat.S_IMODE(st.st_mode), data))
                    elif strict:
                        raise BoxError(f"{rel!r} is neither a file nor a directory")
                pending.extend(reversed(subdirectories))
        return entries

    def restore(self, entries: list[tuple[str, int, bytes | None]]) -> None:
        """Recreate a snapshot in a freshly reset box (parents come before children)."""
        with _Cursor(self._dir_fd()) as cursor:
            for rel, mode, data in entries:
                *parent, name = rel.split("/")
                cursor.move(parent)
                if data is not None:
                    self._create(cursor.fd, name, data, mode)
                    continue
                self.fresh = False
                os.mkdir(name, mode, dir_fd=cursor.fd)
                os.chown(name, self.uid, self.uid, dir_fd=cursor.fd, follow_symlinks=False)
                os.chmod(name, mode, dir_fd=cursor.fd)

    def exists(self, name: str) -> bool:
        dfd = self._dir_fd()
        try:
            os.stat(name, dir_fd=dfd, follow_symlinks=False)
            return True
        except OSError:
            return False
        finally:
            os.close(dfd)


def _read_regular(dfd: int, name: str, size: int) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    try:
        return os.read(fd, size + 1)[:size]
    finally:
        os.close(fd)


class _Cursor:
    """One directory fd that moves through the box a level at a time (a plain name down, ".."
    up), so that no path longer than a name is ever resolved, however deep the tree. Used only
    while no run is alive: nothing changes under it."""

    def __init__(self, root_fd: int):
        self.fd = root_fd
        self.parts: list[str] = []

    def move(self, parts: list[str]) -> None:
        common = 0
        while (common < min(len(parts), len(self.parts))
               and parts[common] == self.parts[common]):
            common += 1
        while len(self.parts) > common:
            self._step("..")
            self.parts.pop()
        for name in parts[common:]:
            self._step(name)
            self.parts.append(name)

    def _step(self, name: str) -> None:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=self.fd)
        os.close(self.fd)
        self.fd = fd

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
