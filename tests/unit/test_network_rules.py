"""The firewall a networked run gets, and the socket families its seccomp filter refuses."""

from __future__ import annotations

import socket

from judge.sandbox import network, seccomp


def test_the_ruleset_refuses_special_ranges_and_the_hosts_own_addresses():
    rules = network.ruleset(["127.0.0.1", "192.168.1.5", "203.0.114.9", "fd00::2"])
    refused = rules.split("elements = {")[1].split("}")[0]
    for net in ("10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                "192.168.0.0/16", "100.64.0.0/10", "224.0.0.0/4"):
        assert net in refused
    assert "203.0.114.9" in refused  # a public address of this host
    assert "192.168.1.5" not in refused  # already covered by its range
    assert "policy drop" in rules and f"ip daddr {network.DNS} udp dport 53 accept" in rules
    assert rules.startswith("flush ruleset")


def test_the_sandbox_gets_the_user_mode_dns_and_a_localhost():
    assert network.RESOLV_CONF == b"nameserver 10.0.2.3\n"
    assert b"127.0.0.1\tlocalhost" in network.HOSTS


def test_without_network_only_unix_sockets_are_allowed():
    assert seccomp._refused_socket_families(False) == [(0, 0), (socket.AF_UNIX + 1, None)]


def test_with_network_ip_and_netlink_sockets_are_allowed_and_nothing_else():
    refused = seccomp._refused_socket_families(True)
    assert refused == [(0, 0), (3, 9), (11, 15), (17, None)]
    allowed = [f for f in range(64) if not any(
        low <= f and (high is None or f <= high) for low, high in refused)]
    assert allowed == [socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK]
