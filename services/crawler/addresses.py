"""Which IP addresses the crawler may connect to (pure: no I/O).

An address is public when Python's ``is_global`` says so *and* it is in none of the ranges below,
which ``is_global`` misses or which carry another address inside them:

- IPv4: this network 0/8, shared address space 100.64/10 (carrier NAT), IETF protocol
  assignments 192.0.0/24, benchmarking 198.18/15, documentation, multicast 224/4, reserved 240/4;
- IPv6: IPv4-mapped ``::ffff:0:0/96`` and IPv4-compatible ``::/96``, 6to4 ``2002::/16``, Teredo
  ``2001::/32``, site-local ``fec0::/10``, unique local ``fc00::/7``, link-local, multicast,
  the local-use NAT64 prefix ``64:ff9b:1::/48``, documentation ``2001:db8::/32`` and ``3fff::/20``;
- the well-known NAT64 prefix ``64:ff9b::/96`` is allowed only when the IPv4 address it embeds
  is itself public (a NAT64 network reaches the public IPv4 Internet that way).
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BLOCKED_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
))
"""Non-public IPv4 ranges, listed so the answer does not depend on the Python version."""

BLOCKED_V6 = tuple(ipaddress.IPv6Network(n) for n in (
    "::/96",            # unspecified, loopback, IPv4-compatible (deprecated)
    "::ffff:0:0/96",    # IPv4-mapped
    "64:ff9b:1::/48",   # local-use NAT64
    "100::/64",         # discard-only
    "2001::/32",        # Teredo (embeds a client's IPv4 address)
    "2001:db8::/32",    # documentation
    "2002::/16",        # 6to4 (embeds an IPv4 address)
    "3fff::/20",        # documentation
    "fc00::/7",         # unique local
    "fe80::/10",        # link-local
    "fec0::/10",        # site-local (deprecated)
    "ff00::/8",         # multicast
))
"""Non-public IPv6 ranges; ``2001::/23`` beyond Teredo is left to ``is_global``."""

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def parse(address: str) -> IPAddress:
    """An address as returned by getaddrinfo (an IPv6 zone ``%eth0`` is dropped)."""
    return ipaddress.ip_address(address.split("%", 1)[0])


def is_public_address(address: str | IPAddress) -> bool:
    """True when the crawler may connect to ``address`` without the partner's private allowance."""
    ip = parse(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_global and not ip.is_multicast and not any(ip in net for net in BLOCKED_V4)
    if ip in NAT64:
        return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in BLOCKED_V6)
