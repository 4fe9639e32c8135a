"""Which addresses the crawler may connect to: every blocked range at its first and last address
and one past it, the embedded-IPv4 prefixes, and the URL check for IP-literal hosts."""

from __future__ import annotations

import pytest

from services.crawler.adapters.http import FetchError, check_url_safety
from services.crawler.addresses import is_public_address


@pytest.mark.parametrize(("address", "public"), [
    # shared address space 100.64/10: one before, first, last, one past
    ("100.63.255.255", True), ("100.64.0.0", False), ("100.127.255.255", False), ("100.128.0.0", True),
    # IETF protocol assignments 192.0.0/24
    ("191.255.255.255", True), ("192.0.0.0", False), ("192.0.0.255", False), ("192.0.1.0", True),
    # benchmarking 198.18/15
    ("198.17.255.255", True), ("198.18.0.0", False), ("198.19.255.255", False), ("198.20.0.0", True),
    # this network, private, loopback, link-local, multicast, reserved, broadcast
    ("0.0.0.0", False), ("0.255.255.255", False), ("1.0.0.0", True), ("10.255.255.255", False), ("11.0.0.0", True),
    ("172.15.255.255", True), ("172.16.0.0", False), ("172.31.255.255", False), ("172.32.0.0", True),
    ("127.0.0.1", False), ("169.254.169.254", False), ("224.0.0.1", False), ("239.255.255.255", False),
    ("240.0.0.1", False), ("255.255.255.255", False), ("203.0.113.5", False), ("8.8.8.8", True),
    # IPv6
    ("2a00:1450:4007:80f::200e", True), ("::1", False), ("::", False), ("fe80::1%eth0", False),
    ("2002::", False), ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False), ("2003::1", True),
    ("fec0::", False), ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False), ("ff00::", False),
    ("2001::", False), ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", False),
    ("::ffff:8.8.8.8", False), ("::8.8.8.8", False),
    ("64:ff9b::808:808", True), ("64:ff9b::a00:1", False), ("64:ff9b::6440:1", False),  # NAT64: the IPv4 decides
    ("64:ff9b:1::808:808", False), ("fc00::", False), ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False),
])
def test_public_addresses_at_the_edges_of_every_range(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://[2002:a00:1::1]/", "http://[fec0::1]:8080/x",
                                 "http://[::ffff:10.0.0.1]/", "https://100.64.0.1/", "http://198.18.0.1/"])
def test_ip_literal_hosts_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(FetchError) as info:
        check_url_safety(url, allow_private=False)
    assert info.value.kind == "unsafe"
    check_url_safety(url, allow_private=True)  # the partner's allowance lets them through


@pytest.mark.parametrize("url", ["ftp://example.org/", "http://user:pw@example.org/", "http://example.org:99999/",
                                 "http:///nohost"])
def test_bad_urls_are_refused_even_with_the_private_allowance(url: str) -> None:
    with pytest.raises(FetchError) as info:
        check_url_safety(url, allow_private=True)
    assert info.value.kind == "unsafe"


def test_names_are_left_to_the_connection() -> None:
    check_url_safety("https://partner.example/page", allow_private=False)  # resolved when connecting
