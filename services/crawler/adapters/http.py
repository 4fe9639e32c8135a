"""Polite HTTP fetching: robots.txt, User-Agent, per-host delay, conditional GET, size limits."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from protego import Protego

MAX_BYTES = 5 * 1024 * 1024
TIMEOUT = httpx.Timeout(20.0, connect=10.0)


class FetchError(Exception):
    pass


@dataclass
class Fetched:
    url: str
    status: int
    body: bytes | None  # None when not modified (304)
    etag: str | None
    last_modified: str | None


class PoliteClient:
    def __init__(self, user_agent: str):
        self.user_agent = user_agent
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent}, timeout=TIMEOUT, follow_redirects=True, max_redirects=5
        )
        self._robots: dict[str, Protego | None] = {}
        self._last_hit: dict[str, float] = {}
        self._validators: dict[str, tuple[str | None, str | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def close(self) -> None:
        await self._client.aclose()

    async def _robots_for(self, url: str) -> Protego | None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            try:
                resp = await self._client.get(f"{origin}/robots.txt")
                self._robots[origin] = Protego.parse(resp.text) if resp.status_code == 200 else None
            except httpx.HTTPError:
                self._robots[origin] = None
        return self._robots[origin]

    async def get(self, url: str, delay_s: float) -> Fetched:
        host = urlsplit(url).netloc
        lock = self._locks.setdefault(host, asyncio.Lock())
        async with lock:  # per-host concurrency 1
            robots = await self._robots_for(url)
            if robots is not None and not robots.can_fetch(url, self.user_agent):
                raise FetchError(f"robots.txt disallows {url}")
            wait = self._last_hit.get(host, 0) + delay_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            etag, modified = self._validators.get(url, (None, None))
            headers = {}
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
            try:
                async with self._client.stream("GET", url, headers=headers) as resp:
                    self._last_hit[host] = time.monotonic()
                    if resp.status_code == 304:
                        return Fetched(url, 304, None, etag, modified)
                    if resp.status_code != 200:
                        raise FetchError(f"GET {url}: HTTP {resp.status_code}")
                    chunks, size = [], 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_BYTES:
                            raise FetchError(f"GET {url}: larger than {MAX_BYTES} bytes")
                        chunks.append(chunk)
                    fetched = Fetched(url, 200, b"".join(chunks), resp.headers.get("etag"),
                                      resp.headers.get("last-modified"))
            except httpx.HTTPError as exc:
                raise FetchError(f"GET {url}: {type(exc).__name__}: {exc}") from None
            self._validators[url] = (fetched.etag, fetched.last_modified)
            return fetched
