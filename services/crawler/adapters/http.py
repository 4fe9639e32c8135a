"""Polite, safe HTTP fetching.

- only http/https; every hop's host resolved and refused when private, loopback, link-local,
  multicast or reserved (SSRF), unless the partner explicitly allows private addresses;
- per-host concurrency 1 and a delay between two requests to a host;
- 429 and 5xx retried with exponential back-off, honouring Retry-After (capped);
- timeouts, a size cap read while streaming, a redirect limit and loop detection; each redirect
  hop is checked again (scheme, address, robots.txt through ``can_fetch``).

DNS rebinding between the check and httpx's own resolution is not prevented (the connection is
not pinned to the checked address); see docs/crawler.md.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

MAX_BYTES = 5 * 1024 * 1024
REDIRECTS = {301, 302, 303, 307, 308}
RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A URL could not be fetched. ``kind``: network, timeout, too_large, redirects, unsafe, robots, http."""

    def __init__(self, url: str, kind: str, message: str, status: int | None = None, requests: int = 0):
        super().__init__(f"GET {url}: {message}")
        self.url, self.kind, self.status, self.requests = url, kind, status, requests


@dataclass
class Response:
    url: str
    """The final URL, after redirects."""
    status: int
    body: bytes
    headers: dict[str, str]
    requests: int = 1
    """HTTP requests made for this fetch (retries and redirect hops included)."""
    redirects: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                return v.strip('"').strip()
        return None


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback
                                 or ip.is_private or ip.is_unspecified)


async def check_url_safety(url: str, allow_private: bool) -> None:
    """Raises FetchError(kind='unsafe') for a non-http(s) URL or a host resolving to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(url, "unsafe", f"scheme {parts.scheme!r} refused (only http and https)")
    host = parts.hostname
    if not host:
        raise FetchError(url, "unsafe", "URL has no host")
    if parts.username or parts.password:
        raise FetchError(url, "unsafe", "URL carries credentials")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchError(url, "unsafe", "bad port") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(url, "network", f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = info[4][0]
        if not is_public_address(address):
            raise FetchError(url, "unsafe", f"{host} resolves to non-public address {address} (refused)")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


CanFetch = Callable[[str], Awaitable[bool]]


class PoliteClient:
    def __init__(self, user_agent: str, *, timeout_s: float = 20.0, max_bytes: int = MAX_BYTES,
                 max_redirects: int = 5, max_retries: int = 3, backoff_s: float = 1.0,
                 max_retry_after_s: float = 300.0, transport: httpx.AsyncBaseTransport | None = None):
        self.user_agent = user_agent
        self.max_bytes, self.max_redirects = max_bytes, max_redirects
        self.max_retries, self.backoff_s, self.max_retry_after_s = max_retries, backoff_s, max_retry_after_s
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            follow_redirects=False, transport=transport, trust_env=False,
        )
        self._last_hit: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def close(self) -> None:
        await self._client.aclose()

    async def get(self, url: str, *, headers: dict[str, str] | None = None, delay_s: float = 1.0,
                  allow_private: bool = False, can_fetch: CanFetch | None = None) -> Response:
        """GET with redirects followed by hand (each hop checked). Returns any final status."""
        seen: list[str] = []
        requests = 0
        current = url
        while True:
            await check_url_safety(current, allow_private)
            if can_fetch is not None and not await can_fetch(current):
                raise FetchError(current, "robots", "disallowed by robots.txt", requests=requests)
            resp = await self._get_with_retries(current, headers if not seen else None, delay_s)
            requests += resp.requests
            if resp.status in REDIRECTS and resp.headers.get("location"):
                seen.append(current)
                target = urljoin(current, resp.headers["location"])
                if target in seen or target == current:
                    raise FetchError(url, "redirects", f"redirect loop via {target}", requests=requests)
                if len(seen) > self.max_redirects:
                    raise FetchError(url, "redirects", f"more than {self.max_redirects} redirects", requests=requests)
                current = target
                continue
            resp.requests, resp.redirects = requests, seen
            return resp

    async def _get_with_retries(self, url: str, headers: dict[str, str] | None, delay_s: float) -> Response:
        attempts = 0
        while True:
            attempts += 1
            resp = await self._get_once(url, headers, delay_s, attempts)
            if resp.status not in RETRY_STATUSES or attempts > self.max_retries:
                resp.requests = attempts
                return resp
            wait = retry_after_seconds(resp.headers.get("retry-after"))
            if wait is None:
                wait = self.backoff_s * 2 ** (attempts - 1) * (1 + random.random() / 4)
            await asyncio.sleep(min(wait, self.max_retry_after_s))

    async def _get_once(self, url: str, headers: dict[str, str] | None, delay_s: float, attempt: int) -> Response:
        host = urlsplit(url).netloc.lower()
        lock = self._locks.setdefault(host, asyncio.Lock())
        async with lock:  # per-host concurrency 1
            wait = self._last_hit.get(host, float("-inf")) + delay_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                async with self._client.stream("GET", url, headers=headers or {}) as resp:
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self.max_bytes:
                        raise FetchError(url, "too_large", f"Content-Length {declared} exceeds {self.max_bytes} bytes",
                                         resp.status_code, attempt)
                    chunks, size = [], 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise FetchError(url, "too_large", f"larger than {self.max_bytes} bytes",
                                             resp.status_code, attempt)
                        chunks.append(chunk)
                    return Response(str(resp.url), resp.status_code, b"".join(chunks),
                                    {k.lower(): v for k, v in resp.headers.items()})
            except httpx.TimeoutException as exc:
                raise FetchError(url, "timeout", f"timeout ({type(exc).__name__})", requests=attempt) from None
            except httpx.HTTPError as exc:
                raise FetchError(url, "network", f"{type(exc).__name__}: {exc}", requests=attempt) from None
            finally:
                self._last_hit[host] = time.monotonic()
