"""The map's background by configuration, in a real browser: with ``MAP_TILES_URL`` the maps draw
the tile server's images (here a local server on another origin, standing for OpenStreetMap or IGN
Plan), credit it, and the pages' security policy lets those images (and only them) in; the shipped
outlines are then not fetched. Without the setting (every other browser test), the outlines are
drawn and no request leaves the site."""

from __future__ import annotations

import base64
import http.server
import threading
from urllib.parse import urlsplit

import pytest

from services.indexer.adapters.search import PostgresIndexWriter
from tests.e2e.browser_support import browser_pages, gateway_site
from tests.integration.test_search_conformance import PROJECTS

pytestmark = pytest.mark.e2e
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
ATTRIBUTION = "Tuiles d'essai"


@pytest.fixture(scope="module")
def tiles():
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 — the standard library's name
            requested.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_address[1]}", requested
    finally:
        server.shutdown()


async def _prepare(engine) -> None:
    await PostgresIndexWriter(engine).upsert_many([(p, 1) for p in PROJECTS])


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory, tiles):
    yield from gateway_site(stack, tmp_path_factory, "browsertiles", _prepare,
                            MAP_TILES_URL=tiles[0] + "/{z}/{x}/{y}.png", MAP_TILES_ATTRIBUTION=ATTRIBUTION,
                            MAP_TILES_MAX_ZOOM="17")


def test_tiles_drawn_credited_and_allowed(site, tiles):
    from playwright.sync_api import expect

    origin, requested = tiles
    with browser_pages(site) as (new_page, errors):
        page = new_page()
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url))
        page.goto("/")
        expect(page.locator("#map img.leaflet-tile-loaded").first).to_be_attached(timeout=10_000)
        assert requested and all(p.endswith(".png") and p.count("/") == 3 for p in requested), requested
        expect(page.locator("#map .leaflet-control-attribution")).to_contain_text(ATTRIBUTION)
        expect(page.locator("footer")).to_contain_text(ATTRIBUTION)
        assert not any("france-regions.geojson" in u for u in seen)  # no outlines under the tiles
        assert {urlsplit(u).netloc for u in seen} == {urlsplit(site["base"]).netloc, urlsplit(origin).netloc}
        page.goto("/projets/velo-lille")
        expect(page.locator("#map img.leaflet-tile-loaded").first).to_be_attached(timeout=10_000)
    assert errors == [], errors  # a tile refused by the policy would be a console error
