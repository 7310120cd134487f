"""Outbound networking for a run that asked for it (`enable_network`), without the host's.

Judge0 shares the host's network namespace with such a run, so the program can reach the
host's loopback services, the database and the private network (CVE-2024-29021). Here the run
keeps its own network namespace and gets:

1. a firewall inside that namespace (nftables, loaded by the supervisor, which is root, before
   the program is released): its own loopback, the user-mode stack's DNS forwarder, and public
   IPv4 destinations are allowed; loopback, private, link-local, shared, multicast and
   reserved ranges and every address of this host are refused (TCP reset / ICMP
   admin-prohibited, so clients fail at once instead of hanging); IPv6 is refused;
2. an uplink through slirp4netns, a user-mode TCP/IP stack that turns the program's packets
   into ordinary sockets of its own process in the worker's namespace. It runs with
   `--disable-host-loopback` (its gateway address never maps to the host's 127.0.0.1),
   `--enable-sandbox` and `--enable-seccomp`, and exits when the run ends or the worker dies.

The program cannot change the rules: they live in a namespace owned by the sandbox's first
user namespace, while the program runs capability-less in a nested one (bwrap
`--disable-userns`), and its seccomp filter still refuses packet and other exotic socket
families. Routes alone would not do: a program can pick its output interface
(IP_PKTINFO, IP_UNICAST_IF) and bypass a "prohibit" route, not an output filter.
"""

from __future__ import annotations

import ctypes
import fcntl
import ipaddress
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable

TAP = "tap0"
DNS = "10.0.2.3"  # slirp4netns's forwarder to the host's resolver
SETUP_TIMEOUT = 5.0
NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace
PR_SET_PDEATHSIG = 1
CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x20000, 0x4000, 1 << 18

# IPv4 ranges a program must never reach (RFC 6890 special-purpose, plus multicast).
BLOCKED_IPV4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)  # fmt: skip

RESOLV_CONF = f"nameserver {DNS}\n".encode()
HOSTS = b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p,) * 3 + (ctypes.c_ulong, ctypes.c_char_p)


class NetworkError(RuntimeError):
    """The run's network could not be set up; the message says what to fix."""


def missing_tools() -> list[str]:
    """Debian packages this host lacks for networked runs."""
    wanted = {"slirp4netns": "slirp4netns", "nft": "nftables", "nsenter": "util-linux"}
    return [package for tool, package in wanted.items() if _tool(tool) is None]


def _tool(name: str) -> str | None:
    return shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def host_addresses() -> list[str]:
    """Every address configured on this host's interfaces (IPv4 and IPv6), so that a public
    address of the worker itself is refused like its loopback."""
    try:
        out = subprocess.run([_tool("ip") or "ip", "-j", "addr", "show"], capture_output=True,
                             check=True, timeout=5).stdout
        interfaces = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        raise NetworkError(f"cannot list this host's addresses with `ip -j addr`: {e}") from e
    return [info["local"] for interface in interfaces
            for info in interface.get("addr_info", []) if info.get("local")]


def ruleset(own_addresses: Iterable[str]) -> str:
    """The nftables program loaded into the run's network namespace."""
    blocked = list(BLOCKED_IPV4)
    for address in own_addresses:
        ip = ipaddress.ip_address(address)
        if ip.version == 4 and not any(ip in ipaddress.ip_network(net) for net in BLOCKED_IPV4):
            blocked.append(str(ip))
    return f"""flush ruleset
table inet judge {{
  set refused4 {{ type ipv4_addr; flags interval; elements = {{ {", ".join(blocked)} }} }}
  chain output {{
    type filter hook output priority 0; policy drop;
    oif "lo" accept
    ip daddr {DNS} udp dport 53 accept
    ip daddr {DNS} tcp dport 53 accept
    meta nfproto ipv4 ip daddr != @refused4 accept
    meta l4proto tcp reject with tcp reset
    reject
  }}
}}
"""


class Uplink:
    """The slirp4netns process serving one run; `close()` stops it."""

    def __init__(self, process: subprocess.Popen, exit_fd: int):
        self.process = process
        self._exit_fd = exit_fd

    def close(self) -> None:
        if self._exit_fd < 0:
            return
        os.close(self._exit_fd)  # slirp4netns exits when its exit fd reaches EOF
        self._exit_fd = -1
        try:
            self.process.wait(1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def sandbox_pid(info_fd: int, timeout: float = SETUP_TIMEOUT) -> int:
    """The pid of the sandbox's init, from the JSON bwrap writes to its ``--info-fd`` (and
    closes) once the namespaces exist."""
    info = bytearray()
    deadline = time.monotonic() + timeout
    while select.select([info_fd], [], [], max(deadline - time.monotonic(), 0))[0]:
        chunk = os.read(info_fd, 4096)
        if not chunk:
            break
        info += chunk
    try:
        return int(json.loads(info)["child-pid"])
    except (ValueError, KeyError, TypeError) as e:
        raise NetworkError(f"bubblewrap did not report the sandbox's pid: {bytes(info)!r}") from e


def attach(pid: int, *, timeout: float = SETUP_TIMEOUT) -> Uplink:
    """Firewall then connect the network namespace of sandbox process `pid` (root only)."""
    missing = missing_tools()
    if missing:
        raise NetworkError("enable_network needs these Debian packages on the worker host: "
                           + " ".join(missing))
    netns = f"/proc/{pid}/ns/net"
    _load_firewall(netns, ruleset(host_addresses()), timeout)
    return _start_slirp(pid, netns, timeout)


def _load_firewall(netns: str, rules: str, timeout: float) -> None:
    try:
        done = subprocess.run([_tool("nsenter"), f"--net={netns}", "--", _tool("nft"), "-f", "-"],
                              input=rules.encode(), capture_output=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as e:
        raise NetworkError(f"cannot load the run's firewall: {e}") from e
    if done.returncode != 0:
        raise NetworkError("cannot load the run's firewall (nftables): "
                           + done.stderr.decode(errors="replace").strip())


def _start_slirp(pid: int, netns: str, timeout: float) -> Uplink:
    # slirp4netns would join the user namespace of `pid`, a nested one without power over the
    # network namespace; hand it the namespace's owner instead.
    netns_fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        userns_fd = fcntl.ioctl(netns_fd, NS_GET_USERNS)
    finally:
        os.close(netns_fd)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    exit_r, exit_w = os.pipe2(os.O_CLOEXEC)
    log = os.memfd_create("judge-slirp-log", os.MFD_CLOEXEC)  # its chatter, read on failure
    argv = [_tool("slirp4netns"), "--configure", "--mtu=65520", "--disable-host-loopback",
            "--enable-sandbox", "--enable-seccomp", f"--ready-fd={ready_w}",
            f"--exit-fd={exit_r}", f"--userns-path=/proc/self/fd/{userns_fd}", str(pid), TAP]
    try:
        process = subprocess.Popen(argv, pass_fds=(ready_w, exit_r, userns_fd),
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   preexec_fn=_slirp_preexec)
    except OSError as e:
        for fd in (ready_r, exit_w, log):
            os.close(fd)
        raise NetworkError(f"cannot start slirp4netns: {e}") from e
    finally:
        for fd in (ready_w, exit_r, userns_fd):  # the child's ends
            os.close(fd)
    uplink = Uplink(process, exit_w)
    try:
        if not _ready(ready_r, timeout):
            uplink.close()
            raise NetworkError("slirp4netns did not bring the network up: "
                               + (_read_log(log) or "timed out"))
    finally:
        os.close(ready_r)
        os.close(log)
    return uplink


def _ready(ready_r: int, timeout: float) -> bool:
    """slirp4netns writes "1" once the interface is configured, or exits (EOF) on failure."""
    readable, _, _ = select.select([ready_r], [], [], timeout)
    return bool(readable) and os.read(ready_r, 1) == b"1"


def _read_log(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    lines = os.read(fd, 65536).decode(errors="replace").splitlines()
    return " / ".join(line for line in lines if "experimental" not in line)


def _slirp_preexec() -> None:
    """slirp4netns dies with us, and starts in a mount namespace of its own whose mounts
    propagate nowhere: its sandbox makes only `/` private (not recursively) before detaching
    the old root, and on a host whose mounts are shared (every systemd host) that detach
    would unmount the host's /sys/fs/cgroup, /dev/mqueue... (tests/sandbox/test_network.py)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if (_libc.unshare(CLONE_NEWNS) != 0
            or _libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0):
        os._exit(126)  # never run it where its unmounts could reach the host
