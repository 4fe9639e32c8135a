"""An httpx transport that connects to the address it checked (no DNS rebinding).

httpx would resolve a host itself when it connects, after the crawler checked it: a hostile DNS
server can answer a public address to the check and a private one to the connection. Here the
resolution happens once, inside the connection: the host is resolved, *every* address is checked
(:func:`services.crawler.addresses.is_public_address`), and the TCP connection is opened to one of
those very addresses. httpcore still sends ``Host: <hostname>`` and starts TLS with
``server_hostname=<hostname>``, so SNI and the certificate check are for the name, not the IP.

A connection kept alive is reused only by the pool of the same transport, i.e. under the same
policy: the crawler keeps one transport per policy (strict, or the partner's private allowance).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable

import httpcore
import httpx

from services.crawler.addresses import is_public_address

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) → addresses`` (strings, in the order to try them)."""


class UnsafeAddress(Exception):
    """The host resolves to an address the crawler must not connect to."""

    def __init__(self, host: str, address: str):
        super().__init__(f"{host} resolves to non-public address {address} (refused)")
        self.host, self.address = host, address


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, checks every address, connects to a checked one."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None,
                 inner: httpcore.AsyncNetworkBackend | None = None):
        self.allow_private = allow_private
        self._resolve = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            addresses = await asyncio.wait_for(self._resolve(host, port), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no address")
        if not self.allow_private:
            for address in addresses:
                if not is_public_address(address):
                    raise UnsafeAddress(host, address)
        return addresses

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolve(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:  # the checked addresses, and only them
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise UnsafeAddress(path, "unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connections go through a :class:`PinnedBackend`
    (no proxy from the environment, no unix socket)."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None,
                 inner: httpcore.AsyncNetworkBackend | None = None, verify: ssl.SSLContext | bool = True,
                 limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)):
        super().__init__(verify=verify, trust_env=False, limits=limits)
        self.backend = PinnedBackend(allow_private=allow_private, resolver=resolver, inner=inner)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self.backend,
        )
