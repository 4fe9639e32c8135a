"""HTTP hygiene for every response: security headers (Content-Security-Policy for the pages) and
validators for the API (strong ETag on GET answers, 304 on a matching If-None-Match).

Framing: every page refuses to be framed (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``)
except the embeddable map (``/embed``), which any site may put in an iframe. The map's tile server
(setting ``map_tiles_url``), when there is one, is the only other origin images may come from.
The OpenAPI page (``/schema``) is served from vendored files and has its own policy (its viewer
starts from an inline script holding the schema).

Raw ASGI, so it also covers errors, static files and streamed exports (which are left unbuffered
and get no ETag).
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
SCHEMA_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; font-src 'self'; "
              "object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
EMBED_PATH = "/embed"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]


def tile_origin(template: str | None) -> str | None:
    """``https://tile.openstreetmap.org/{z}/{x}/{y}.png`` → ``https://tile.openstreetmap.org``; the
    ``{s}`` sub-domain placeholder becomes a wildcard (``https://*.tile.example``)."""
    if not template:
        return None
    parts = urlsplit(template.replace("{s}", "*"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def policy_for(path: str, tiles: str | None = None) -> bytes:
    """The Content-Security-Policy of a path: the pages' policy, the tile server's images allowed,
    framing allowed on the embed route only."""
    if path.startswith("/schema"):
        return SCHEMA_CSP.encode()
    csp = CSP
    if tiles:
        csp = csp.replace("img-src 'self' data:", f"img-src 'self' data: {tiles}")
    if path == EMBED_PATH:
        csp = csp.replace("frame-ancestors 'none'", "frame-ancestors *")
    return csp.encode()


def headers_for(path: str, tiles: str | None = None) -> list[tuple[bytes, bytes]]:
    extra = [h for h in SECURITY_HEADERS if not (path == EMBED_PATH and h[0] == b"x-frame-options")]
    extra.append((b"content-security-policy", policy_for(path, tiles)))
    return extra
ETAG_PREFIXES = ("/api/v1/",)
NO_ETAG = ("/api/v1/export", "/api/v1/ingest")
MAX_BUFFER = 4 * 1024 * 1024


def _etag_wanted(scope) -> bool:
    path = scope.get("path", "")
    return (scope.get("method") in ("GET", "HEAD") and path.startswith(ETAG_PREFIXES)
            and not path.startswith(NO_ETAG))


def _if_none_match(scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"if-none-match":
            return value.decode("latin-1")
    return None


def hygiene_with(tiles_url: str | None = None):
    """The middleware factory, allowing images from the tile server of ``tiles_url``."""
    tiles = tile_origin(tiles_url)
    return lambda app: http_hygiene(app, tiles)


def http_hygiene(app, tiles: str | None = None):
    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        extra = headers_for(path, tiles)

        if not _etag_wanted(scope):
            async def send_plain(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)

            await app(scope, receive, send_plain)
            return

        start: dict | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def send_buffered(message):
            nonlocal start, passthrough
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = {**message, "headers": [*message.get("headers", []), *extra]}
                if start["status"] != 200:
                    passthrough = True
                    await send(start)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body") and sum(map(len, chunks)) < MAX_BUFFER:
                return
            if message.get("more_body"):  # too big to hash: stream as is
                passthrough = True
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
                return
            body = b"".join(chunks)
            etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
            headers = [h for h in start["headers"] if h[0].lower() != b"etag"] + [(b"etag", etag.encode())]
            wanted = _if_none_match(scope)
            if wanted and (wanted.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in wanted.split(",")]):
                keep = {b"etag", b"cache-control", b"vary", b"content-security-policy", *(h for h, _ in SECURITY_HEADERS),
                        b"access-control-allow-origin", b"access-control-expose-headers"}
                await send({"type": "http.response.start", "status": 304,
                            "headers": [h for h in headers if h[0].lower() in keep]})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, send_buffered)

    return middleware
