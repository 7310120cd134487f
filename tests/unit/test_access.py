"""api/access.py's IP filter and token check, on requests built in memory."""

from __future__ import annotations

import falcon.testing
import pytest

from api.access import IpFilter, _token_matches
from judge.config import Config

PROXIES = Config().trusted_proxies


def client_ip(remote: str, forwarded: str | None = None, proxies=PROXIES) -> str:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    req = falcon.testing.create_req(remote_addr=remote, headers=headers)
    return IpFilter((), (), proxies).client_ip(req)


def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    assert client_ip("127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert client_ip("198.51.100.1", "192.0.2.10") == "198.51.100.1"  # a spoof attempt
    assert client_ip("127.0.0.1", "127.0.0.2") == "127.0.0.1"  # only proxies: the peer
    assert client_ip("127.0.0.1") == "127.0.0.1"


def test_by_default_only_loopback_is_a_trusted_proxy():
    """A client on a private network is not a proxy: its X-Forwarded-For claims nothing
    (with Rails' private-range default it could name any address and dodge DISALLOW_IP)."""
    assert PROXIES == ("127.0.0.0/8", "::1/128")
    assert client_ip("10.0.0.5", "203.0.113.9") == "10.0.0.5"
    assert client_ip("192.168.1.20", "198.51.100.7, 192.168.1.1") == "192.168.1.20"
    assert client_ip("127.0.0.1", "203.0.113.9, 10.0.0.7") == "10.0.0.7"


def test_a_configured_private_proxy_is_believed():
    proxies = (*PROXIES, "10.0.0.0/8")
    assert client_ip("10.0.0.5", "203.0.113.9, 10.0.0.7", proxies) == "203.0.113.9"


@pytest.mark.parametrize("allow, deny, address, permitted", [
    ((), (), "203.0.113.9", True),
    ((), ("203.0.113.9",), "203.0.113.9", False),
    (("192.0.2.10",), (), "192.0.2.11", False),
    (("192.0.2.10", "198.51.100.7"), ("198.51.100.7",), "198.51.100.7", False),  # on both
    ((), ("198.51.100.7",), "198.51.100.7", False),
    (("198.51.100.7",), ("198.51.100.7",), "1.2.3.4", True),  # both lists empty once subtracted
    (("192.0.2.0/24",), (), "192.0.2.200", True),
    ((), ("192.0.2.0/24",), "::ffff:192.0.2.1", False),
    (("not-an-ip",), (), "192.0.2.1", False),
])
def test_allow_and_deny_lists(allow, deny, address, permitted):
    assert IpFilter(allow, deny, PROXIES).permits(address) == permitted


def test_tokens_compare_against_every_configured_one():
    assert _token_matches("b", ("a", "b"))
    assert not _token_matches("", ("a",))
    assert not _token_matches(None, ("a",))
    assert not _token_matches("ab", ("a", "b"))
