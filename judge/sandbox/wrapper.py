"""The docker backend's first process in every container, and the report it leaves.

`WRAPPER` (POSIX sh, pid 1, uid 0 with SETUID/SETGID/KILL only) unpacks the box and stdin
from its stdin as the sandbox user, snapshots the container's cgroup counters, runs the
program as the sandbox user under its rlimits, kills what the program left, then writes to
stderr a section opened by the run's secret marker: its status, the counters again and the
box as a tar stream. `Report.parse` reads that section (docker_backend.py finds it).
"""

from __future__ import annotations

from dataclasses import dataclass

CGROUP_FILES = " ".join((  # v1 (cgroup namespace of the container), then v2
    "/sys/fs/cgroup/cpuacct/cpuacct.usage", "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage",
    "/sys/fs/cgroup/memory/memory.usage_in_bytes", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes",
    "/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/cpu.stat",
    "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory.events",
))

# Needs sh, tar, env (coreutils >= 8.31), prlimit and setpriv (util-linux) in the image.
# `env --default-signal`: a background job of a script starts with SIGINT/SIGQUIT ignored.
WRAPPER = r"""
n=$JUDGE_NONCE u=$JUDGE_UID g=$JUDGE_GID lim=$JUDGE_RLIMITS merge=$JUDGE_MERGE
unset JUDGE_NONCE JUDGE_UID JUDGE_GID JUDGE_RLIMITS JUDGE_MERGE HOSTNAME TERM container
as_user() { setpriv --reuid="$u" --regid="$g" --clear-groups --inh-caps=-all -- "$@"; }
snap() {
    for f in /proc/uptime CGROUP_FILES; do
        [ -r "$f" ] || continue
        while read -r line; do echo "$1 $f $line"; done < "$f"
    done
}
as_user tar -x -p -f - -C / 2>/judge/unpack.log
unpacked=$?
exec </dev/null
before=$(snap 0)
rc=
if [ "$unpacked" = 0 ]; then
    trap 'kill -9 -1 2>/dev/null' USR1
    if [ "$merge" = 1 ]; then
        env --default-signal prlimit $lim -- setpriv --reuid="$u" --regid="$g" --clear-groups \
            --inh-caps=-all -- "$@" </judge/stdin 2>&1 &
    else
        env --default-signal prlimit $lim -- setpriv --reuid="$u" --regid="$g" --clear-groups \
            --inh-caps=-all -- "$@" </judge/stdin &
    fi
    pid=$!
    while :; do wait "$pid" 2>/dev/null; rc=$?; kill -0 "$pid" 2>/dev/null || break; done
    kill -9 -1 2>/dev/null
fi
{
    printf '<<judge %s>>\n' "$n"
    echo "unpack $unpacked"
    echo "rc $rc"
    while read -r line; do echo "log $line"; done </judge/unpack.log
    echo "$before"
    snap 1
    echo "<<box>>"
    as_user tar -c --ignore-failed-read -f - -C /box . 2>/dev/null
    printf '\n<<end %s>> %s\n' "$n" "$?"
} >&2
""".replace("CGROUP_FILES", CGROUP_FILES)


def _snapshots(lines: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    snaps: tuple[dict[str, list[str]], dict[str, list[str]]] = ({}, {})
    for line in lines:
        tag, _, rest = line.partition(" ")
        path, _, value = rest.partition(" ")
        if tag in ("0", "1"):
            snaps[int(tag)].setdefault(path, []).append(value)
    return snaps


def _first(snap: dict[str, list[str]], *paths: str) -> str | None:
    return next((snap[p][0] for p in paths if snap.get(p)), None)


def _keyed(snap: dict[str, list[str]], path: str, key: str) -> int | None:
    for line in snap.get(path, ()):
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return None


def _cpu_ns(snap: dict[str, list[str]]) -> int | None:
    v1 = _first(snap, "/sys/fs/cgroup/cpuacct/cpuacct.usage",
                "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage")
    if v1 is not None:
        return int(v1)
    usec = _keyed(snap, "/sys/fs/cgroup/cpu.stat", "usage_usec")
    return None if usec is None else usec * 1000


def _oom_kills(snap: dict[str, list[str]]) -> int | None:
    v1 = _keyed(snap, "/sys/fs/cgroup/memory/memory.oom_control", "oom_kill")
    return v1 if v1 is not None else _keyed(snap, "/sys/fs/cgroup/memory.events", "oom_kill")


@dataclass
class Report:
    """What the wrapper said after the program ended."""

    unpacked: bool
    returncode: int | None
    log: list[str]
    cpu_ns: int
    wall: float | None
    memory_bytes: int
    oom_kills: int | None
    box_tar: bytes | None  # None: the box did not come back whole

    @classmethod
    def parse(cls, section: bytes, nonce: str) -> Report:
        text, _, rest = section.partition(b"<<box>>\n")
        end = rest.rfind(f"\n<<end {nonce}>> ".encode())
        lines = text.decode(errors="replace").splitlines()
        fields = dict(line.split(" ", 1) for line in lines if line.startswith(("unpack ", "rc ")))
        before, after = _snapshots(lines)
        cpu0, cpu1 = _cpu_ns(before), _cpu_ns(after)
        up0, up1 = _first(before, "/proc/uptime"), _first(after, "/proc/uptime")
        usage0 = _first(before, "/sys/fs/cgroup/memory/memory.usage_in_bytes",
                        "/sys/fs/cgroup/memory.current")
        peak = _first(after, "/sys/fs/cgroup/memory/memory.max_usage_in_bytes",
                      "/sys/fs/cgroup/memory.peak")
        oom0, oom1 = _oom_kills(before), _oom_kills(after)
        tar_ok = end >= 0 and rest[end:].split()[-1] == b"0"
        return cls(
            unpacked=fields.get("unpack") == "0",
            returncode=int(fields["rc"]) if fields.get("rc", "").isdigit() else None,
            log=[line[4:] for line in lines if line.startswith("log ")],
            cpu_ns=max(cpu1 - cpu0, 0) if cpu0 is not None and cpu1 is not None else 0,
            wall=float(up1.split()[0]) - float(up0.split()[0]) if up0 and up1 else None,
            memory_bytes=max(int(peak) - int(usage0), 0) if peak and usage0 else 0,
            oom_kills=oom1 - oom0 if oom0 is not None and oom1 is not None else None,
            box_tar=rest[:end] if tar_ok else None,
        )
