"""Polite, safe HTTP fetching.

- only http/https, no credentials in URLs; every hop's host resolved once, *when connecting*, and
  refused when one of its addresses is not public (SSRF, :mod:`services.crawler.addresses`), the
  connection going to the checked address (:mod:`.pinned`: no DNS rebinding), unless the partner
  explicitly allows private addresses;
- per-host concurrency 1 and a delay between two requests to a host;
- 429 and 5xx retried with exponential back-off, honouring Retry-After (capped);
- timeouts, a size cap read while streaming, a redirect limit and loop detection; each redirect
  hop is checked again (scheme, address, robots.txt through ``can_fetch``).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from services.crawler.adapters.pinned import PinnedTransport, Resolver, UnsafeAddress
from services.crawler.addresses import is_public_address

__all__ = ["FetchError", "PoliteClient", "Response", "check_url_safety", "is_public_address", "retry_after_seconds"]

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


def check_url_safety(url: str, allow_private: bool) -> None:
    """Raises FetchError(kind='unsafe') for a non-http(s) URL, credentials in it, a bad port or an
    IP-literal host that is not public. Host names are checked when connecting (:mod:`.pinned`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(url, "unsafe", f"scheme {parts.scheme!r} refused (only http and https)")
    host = parts.hostname
    if not host:
        raise FetchError(url, "unsafe", "URL has no host")
    if parts.username or parts.password:
        raise FetchError(url, "unsafe", "URL carries credentials")
    try:
        parts.port
    except ValueError:
        raise FetchError(url, "unsafe", "bad port") from None
    if allow_private:
        return
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return
    if not is_public_address(literal):
        raise FetchError(url, "unsafe", f"non-public address {host} (refused)")


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
                 max_retry_after_s: float = 300.0, resolver: Resolver | None = None,
                 network_backend: httpcore.AsyncNetworkBackend | None = None, verify: ssl.SSLContext | bool = True):
        """``resolver``, ``network_backend`` and ``verify`` are for tests (a fake DNS, a recorder of
        the addresses connected to, a test certificate authority)."""
        self.user_agent = user_agent
        self.max_bytes, self.max_redirects = max_bytes, max_redirects
        self.max_retries, self.backoff_s, self.max_retry_after_s = max_retries, backoff_s, max_retry_after_s
        self._timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self._transport_args = {"resolver": resolver, "inner": network_backend, "verify": verify}
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._last_hit: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _client(self, allow_private: bool) -> httpx.AsyncClient:
        """One client (and connection pool) per address policy: a connection opened under the
        partner's private allowance is never reused by a strict request."""
        if allow_private not in self._clients:
            self._clients[allow_private] = httpx.AsyncClient(
                headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
                timeout=self._timeout, follow_redirects=False, trust_env=False,
                transport=PinnedTransport(allow_private=allow_private, **self._transport_args),
            )
        return self._clients[allow_private]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def get(self, url: str, *, headers: dict[str, str] | None = None, delay_s: float = 1.0,
                  allow_private: bool = False, can_fetch: CanFetch | None = None) -> Response:
        """GET with redirects followed by hand (each hop checked). Returns any final status."""
        seen: list[str] = []
        requests = 0
        current = url
        while True:
            check_url_safety(current, allow_private)
            if can_fetch is not None and not await can_fetch(current):
                raise FetchError(current, "robots", "disallowed by robots.txt", requests=requests)
            resp = await self._get_with_retries(current, headers if not seen else None, delay_s, allow_private)
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

    async def _get_with_retries(self, url: str, headers: dict[str, str] | None, delay_s: float,
                                allow_private: bool) -> Response:
        attempts = 0
        while True:
            attempts += 1
            resp = await self._get_once(url, headers, delay_s, attempts, allow_private)
            if resp.status not in RETRY_STATUSES or attempts > self.max_retries:
                resp.requests = attempts
                return resp
            wait = retry_after_seconds(resp.headers.get("retry-after"))
            if wait is None:
                wait = self.backoff_s * 2 ** (attempts - 1) * (1 + random.random() / 4)
            await asyncio.sleep(min(wait, self.max_retry_after_s))

    async def _get_once(self, url: str, headers: dict[str, str] | None, delay_s: float, attempt: int,
                        allow_private: bool) -> Response:
        host = urlsplit(url).netloc.lower()
        lock = self._locks.setdefault(host, asyncio.Lock())
        async with lock:  # per-host concurrency 1
            wait = self._last_hit.get(host, float("-inf")) + delay_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                async with self._client(allow_private).stream("GET", url, headers=headers or {}) as resp:
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
            except UnsafeAddress as exc:
                raise FetchError(url, "unsafe", str(exc), requests=attempt - 1) from None
            except httpx.TimeoutException as exc:
                raise FetchError(url, "timeout", f"timeout ({type(exc).__name__})", requests=attempt) from None
            except httpx.HTTPError as exc:
                raise FetchError(url, "network", f"{type(exc).__name__}: {exc}", requests=attempt) from None
            finally:
                self._last_hit[host] = time.monotonic()
