"""enable_network: a run gets outbound networking through slirp4netns in its own network
namespace, and can reach neither the host's loopback, nor the host's own addresses, nor
private ranges (Judge0's CVE-2024-29021).

Public destinations cannot be tested here: this machine has no route to the internet, and no
test may send traffic to an address that is not ours. The positive controls below instead
lift one rule of the firewall and show that the very same connection then gets through, so the
refusals are the firewall's doing and not a broken uplink.
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from judge.sandbox import Limits, Outcome, RunSpec, network

from .conftest import BOXES, FIRST_UID

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host.strip("[]"), int(port)))
        out[target] = "connected"
    except OSError as e:
        out[target] = type(e).__name__
    finally:
        s.close()
print(json.dumps(out))
"""

PRIVATE_NETNS = "judge-test-private"
HOST_SIDE, PEER_SIDE = "10.213.77.1", "10.213.77.2"  # a /30 on a veth to our own namespace


def probe(box, *targets: str, network_on: bool = True) -> dict[str, str]:
    r = box.sandbox.run(RunSpec(("/usr/bin/python3", "-c", PROBE, *targets),
                                Limits(cpu_time=5, wall_time=15), network=network_on))
    assert r.outcome is Outcome.OK, (r.outcome, r.message, r.stderr)
    return json.loads(r.stdout)


class Listener:
    """A TCP listener on the host that counts the connections it accepts."""

    def __init__(self, address: str = "127.0.0.1"):
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            if select.select([self.sock], [], [], 0.05)[0]:
                self.sock.accept()[0].close()
                self.accepted += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def loopback_listener() -> Iterator[Listener]:
    listener = Listener("127.0.0.1")
    yield listener
    listener.close()


@pytest.fixture
def any_address_listener() -> Iterator[Listener]:
    listener = Listener("0.0.0.0")
    yield listener
    listener.close()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class PrivateHost:
    """A listener at a private address, on the other end of a veth pair to a network namespace
    of our own: the host routes to it, so slirp4netns could reach it."""

    def __init__(self):
        self.port = 47000
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", PRIVATE_NETNS, sys.executable, "-c",
             "import socket, sys\ns = socket.socket()\n"
             f"s.bind(('{PEER_SIDE}', {self.port}))\ns.listen()\nprint('ready', flush=True)\n"
             "while True:\n    c, a = s.accept()\n    print('accepted', a[0], flush=True)\n"
             "    c.close()\n"],
            stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"
        self.accepted: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.accepted.append(line.split()[1])

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self._thread.join()


@pytest.fixture
def private_host() -> Iterator[PrivateHost]:
    subprocess.run(["ip", "netns", "del", PRIVATE_NETNS], capture_output=True)
    subprocess.run(["ip", "link", "del", "jt-host"], capture_output=True)
    _ip("netns", "add", PRIVATE_NETNS)
    try:
        _ip("link", "add", "jt-host", "type", "veth", "peer", "name", "jt-peer")
        _ip("link", "set", "jt-peer", "netns", PRIVATE_NETNS)
        _ip("addr", "add", f"{HOST_SIDE}/30", "dev", "jt-host")
        _ip("link", "set", "jt-host", "up")
        _ip("-n", PRIVATE_NETNS, "addr", "add", f"{PEER_SIDE}/30", "dev", "jt-peer")
        _ip("-n", PRIVATE_NETNS, "link", "set", "jt-peer", "up")
        _ip("-n", PRIVATE_NETNS, "link", "set", "lo", "up")
        host = PrivateHost()
        try:
            yield host
        finally:
            host.close()
    finally:
        subprocess.run(["ip", "link", "del", "jt-host"], capture_output=True)
        subprocess.run(["ip", "netns", "del", PRIVATE_NETNS], capture_output=True)


def test_the_worker_host_has_what_networked_runs_need():
    assert network.missing_tools() == []


def test_a_networked_run_has_its_own_interface_and_the_user_mode_dns(box):
    r = box.sandbox.run(RunSpec(("/bin/sh", "-c", "ip -br -4 addr; ip route; cat /etc/resolv.conf"),
                                Limits(), network=True))
    out = r.stdout.decode()
    assert r.outcome is Outcome.OK, r.stderr
    assert "tap0" in out and "10.0.2.100/24" in out and "default via 10.0.2.2" in out
    assert f"nameserver {network.DNS}" in out
    assert "eth0" not in out  # none of the host's interfaces


def test_the_hosts_loopback_is_unreachable(box, loopback_listener):
    port = loopback_listener.port
    results = probe(box, f"127.0.0.1:{port}", f"10.0.2.2:{port}", "10.0.2.2:5432",
                    "10.0.2.2:6379")
    assert "connected" not in results.values(), results
    assert loopback_listener.accepted == 0


def test_slirp_never_maps_its_gateway_to_the_hosts_loopback(box, loopback_listener, monkeypatch):
    """Even with the firewall's private ranges lifted, --disable-host-loopback holds."""
    monkeypatch.setattr(network, "BLOCKED_IPV4", ("127.0.0.0/8",))
    results = probe(box, f"10.0.2.2:{loopback_listener.port}")
    assert results[f"10.0.2.2:{loopback_listener.port}"] != "connected"
    assert loopback_listener.accepted == 0


def test_the_hosts_own_addresses_are_unreachable(box, any_address_listener):
    own = [address for address in network.host_addresses()
           if ipaddress.ip_address(address).version == 4
           and not ipaddress.ip_address(address).is_loopback]
    assert own, "this host has no non-loopback IPv4 address to test with"
    results = probe(box, *(f"{address}:{any_address_listener.port}" for address in own))
    assert "connected" not in results.values(), results
    assert any_address_listener.accepted == 0


def test_private_addresses_are_unreachable(box, private_host):
    target = f"{PEER_SIDE}:{private_host.port}"
    with socket.create_connection((PEER_SIDE, private_host.port), 3):
        pass  # the host itself reaches it: the route exists
    results = probe(box, target, f"{HOST_SIDE}:{private_host.port}")
    assert results[target] == "ConnectionRefusedError"  # refused at once, not left hanging
    assert private_host.accepted == [HOST_SIDE]  # only the host's own connection


def test_without_its_firewall_rule_the_same_connection_gets_through(box, private_host,
                                                                     monkeypatch):
    """The positive control: the uplink works, the firewall is what refuses."""
    monkeypatch.setattr(network, "BLOCKED_IPV4",
                        tuple(net for net in network.BLOCKED_IPV4 if net != "10.0.0.0/8"))
    results = probe(box, f"{PEER_SIDE}:{private_host.port}")
    assert results[f"{PEER_SIDE}:{private_host.port}"] == "connected"


def test_ipv6_destinations_are_refused(box, any_address_listener):
    own6 = [a for a in network.host_addresses()
            if ipaddress.ip_address(a).version == 6 and not ipaddress.ip_address(a).is_loopback
            and not ipaddress.ip_address(a).is_link_local]
    targets = [f"[{a}]:{any_address_listener.port}" for a in own6] or ["[fd00::1]:80"]
    results = probe(box, *targets)
    assert "connected" not in results.values(), results


def test_the_program_cannot_change_the_firewall_or_the_interface(box, loopback_listener):
    r = box.sandbox.run(RunSpec(("/bin/sh", "-c",
                                 "/usr/sbin/nft flush ruleset; echo nft=$?; "
                                 "ip link set tap0 down; echo ip=$?; "
                                 "ip route add 127.0.0.0/8 via 10.0.2.2 dev tap0; echo route=$?"),
                                Limits(), network=True))
    out = r.stdout.decode()
    assert "nft=0" not in out and "ip=0" not in out and "route=0" not in out, out
    assert probe(box, f"10.0.2.2:{loopback_listener.port}") != {
        f"10.0.2.2:{loopback_listener.port}": "connected"}


def test_packet_sockets_stay_refused_with_network(box):
    code = ("import socket\nfor family in (socket.AF_INET, socket.AF_INET6, socket.AF_PACKET):\n"
            "    try:\n        socket.socket(family, socket.SOCK_RAW if family == socket.AF_PACKET"
            " else socket.SOCK_STREAM).close(); print(family.name, 'ok')\n"
            "    except OSError as e:\n        print(family.name, e.errno)\n")
    r = box.sandbox.run(RunSpec(("/usr/bin/python3", "-c", code), Limits(), network=True))
    assert r.stdout.decode().split("\n")[:3] == ["AF_INET ok", "AF_INET6 ok", "AF_PACKET 13"]


def test_without_network_no_ip_socket_can_be_created(box):
    code = "import socket\ntry:\n    socket.socket()\n    print('ok')\nexcept OSError as e:\n" \
           "    print(e.errno)"
    r = box.sandbox.run(RunSpec(("/usr/bin/python3", "-c", code), Limits(), network=False))
    assert r.stdout == b"13\n"


def test_the_uplink_ends_with_the_run(box):
    r = box.sandbox.run(RunSpec(("/bin/true",), Limits(), network=True))
    assert r.outcome is Outcome.OK
    leftover = subprocess.run(["pgrep", "-P", str(os.getpid()), "-x", "slirp4netns"],
                              capture_output=True, text=True)
    assert leftover.stdout == ""


def test_a_broken_uplink_is_an_internal_error_not_a_run_without_isolation(box, monkeypatch):
    monkeypatch.setattr(network, "ruleset", lambda addresses: "this is not nftables\n")
    r = box.sandbox.run(RunSpec(("/bin/true",), Limits(), network=True))
    assert r.outcome is Outcome.INTERNAL_ERROR
    assert "firewall" in r.message


SHARED_MOUNTS_CHECK = """
import json, sys
from pathlib import Path
from judge.sandbox import Limits, RunSpec, SandboxSettings, open_sandbox
sandbox = open_sandbox(SandboxSettings(boxes_dir=Path(sys.argv[1]), first_uid=int(sys.argv[2])))
try:
    before = Path('/proc/self/mountinfo').read_text().count(chr(10))
    r = sandbox.run(RunSpec(('/bin/true',), Limits(cpu_time=5, wall_time=15), network=True))
    after = Path('/proc/self/mountinfo').read_text().count(chr(10))
    print(json.dumps([r.outcome.value, before, after]))
finally:
    sandbox.close()
"""


def test_a_networked_run_leaves_shared_mounts_of_the_host_alone():
    """systemd makes every mount shared; slirp4netns's own sandbox would then unmount the
    host's submounts (/sys/fs/cgroup...). Played here in a mount namespace of the test's own
    whose mounts are made shared (recursively) as on such a host."""
    boxes = BOXES.parent / "test-shared-mount-boxes"  # the box uid must reach it
    script = ("mount --make-rshared / && mount -t tmpfs judge-shared-probe /mnt && "
              f'exec "{sys.executable}" -c "$0" "$@"')
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
             SHARED_MOUNTS_CHECK, str(boxes), str(FIRST_UID + 900)],
            capture_output=True, text=True, timeout=120, cwd=ROOT)
    finally:
        shutil.rmtree(boxes, ignore_errors=True)  # its mounts were the namespace's
    assert done.returncode == 0, done.stderr
    outcome, before, after = json.loads(done.stdout.splitlines()[-1])
    assert outcome == "ok" and after == before, done.stdout

