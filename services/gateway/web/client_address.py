"""The visitor's address behind a reverse proxy, believed only from the proxies we run.

Behind an ingress every request comes from the ingress's address, so per-visitor limits (logins,
contact, export) would be limits for the whole site. ``X-Forwarded-For`` (and ``X-Forwarded-Proto``)
are read only when the peer is in ``FORWARDED_ALLOW_IPS`` (comma-separated addresses or CIDRs; ``*``
trusts everyone, for a socket only a proxy can reach). The list is walked from the right, skipping
our own proxies; the first address that is not one of them is the client. A visitor who sends their
own ``X-Forwarded-For`` only adds entries to the left of the one the proxy appended, so they cannot
choose the address the gateway sees. uvicorn's own proxy handling is turned off
(``services/gateway/__main__.py``) so that this is the only place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str | Iterable[str] | None) -> tuple[Network, ...] | None:
    """The trusted proxies; None means every peer is trusted (``*``). A bad entry raises ValueError."""
    items = spec.split(",") if isinstance(spec, str) else list(spec or ())
    out: list[Network] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item == "*":
            return None
        out.append(ipaddress.ip_network(item, strict=False))
    return tuple(out)


def _ip(value: str):
    value = value.strip().strip('"')
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def trusted(peer: str | None, networks: tuple[Network, ...] | None) -> bool:
    if networks is None:
        return True
    ip = _ip(peer or "")
    return ip is not None and any(ip in n for n in networks)


def resolve(peer: str | None, forwarded_for: list[str], networks: tuple[Network, ...] | None) -> str | None:
    """The client's address: the peer itself unless it is a trusted proxy; then the rightmost
    X-Forwarded-For entry that is not a trusted proxy (the leftmost one when all are). An entry
    that is not an address stops the walk: everything left of it is the visitor's own writing."""
    if not forwarded_for or not trusted(peer, networks):
        return peer
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            break
        client = str(ip)
        if not trusted(client, networks):
            break
    return client


def client_address_middleware(spec: str | None):
    networks = parse_networks(spec)

    def factory(app):
        async def middleware(scope, receive, send):
            if scope["type"] in ("http", "websocket"):
                peer = (scope.get("client") or (None, 0))[0]
                if trusted(peer, networks):
                    forwarded, proto = [], None
                    for name, value in scope.get("headers") or []:
                        if name == b"x-forwarded-for":
                            forwarded.append(value.decode("latin-1"))
                        elif name == b"x-forwarded-proto":
                            proto = value.decode("latin-1").split(",")[-1].strip().lower()
                    client = resolve(peer, forwarded, networks)
                    if client != peer or proto in ("http", "https"):
                        scope = dict(scope)
                        if client != peer:
                            scope["client"] = (client, 0)
                        if proto in ("http", "https"):
                            scope["scheme"] = proto if scope["type"] == "http" else ("wss" if proto == "https"
                                                                                      else "ws")
            await app(scope, receive, send)

        return middleware

    return factory
