"""End to end, abroad: a record pushed with the address "1000 Bruxelles, Belgique" goes through the
real normalizer, geocoder, indexer and gateway processes and is searchable with ``country=BE``
(facet « Pays », label « Belgique »), shown on the map at Brussels, and never placed in France (no
French commune, département or région; absent from ``country=FR``), while a French record pushed
with it stays in France; in a real browser, a visitor ticks « Belgique » and sees it on the map."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest

from tests.conftest import (
    create_api_key,
    fresh_database,
    print_log_tails,
    wait_ready,
    wait_until,
)
from tools.devstack import free_port

pytestmark = pytest.mark.e2e
SERVICES = ("normalizer", "geocoder", "indexer", "gateway")
PARTNER = "abroad-partner"
API_KEY = "abroad-key-" + uuid.uuid4().hex
BRUSSELS = (50.8503, 4.3517)
TAG = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def base_url(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("abroad-e2e")
    database_url = fresh_database(stack, "abroad")
    create_api_key(database_url, PARTNER, API_KEY, label="abroad")
    port = free_port()
    log_dir = tmp / "logs"
    stack.start_services(SERVICES, log_dir=log_dir, DATABASE_URL=database_url, GATEWAY_PORT=str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=30)
        yield url
    finally:
        stack.stop_services()
        print_log_tails(log_dir, SERVICES)


async def _get(base_url: str, path: str, **params) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        r = await client.get(path, params=params)
        assert r.status_code == 200, r.text
        return r


RECORDS = [
    {"source": PARTNER, "source_record_id": "bxl-1", "url": "https://exemple.org/bxl",
     "title": f"Atelier de réparation solidaire {TAG}", "address": "Rue Haute 12, 1000 Bruxelles, Belgique",
     "description": "Un repair café de quartier ouvert à toutes et tous.", "themes": ["Réemploi"]},
    {"source": PARTNER, "source_record_id": "dijon-1", "url": "https://exemple.org/dijon",
     "title": f"Atelier de réparation partagé {TAG}", "address": "12 rue Carnot, 21000 Dijon",
     "description": "Un repair café de quartier ouvert à toutes et tous.", "themes": ["Réemploi"]},
]


@pytest.fixture(scope="module")
def pushed(base_url) -> dict:
    """Both records pushed through the ingest API and indexed; the search answer for them."""
    async def push_and_wait() -> dict:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            r = await client.post("/api/v1/ingest", json={"records": RECORDS}, headers={"X-API-Key": API_KEY})
            assert r.status_code == 202, r.text

        async def both_indexed():
            body = (await _get(base_url, "/api/v1/search", q=TAG, source=PARTNER)).json()
            return body if body["total"] == 2 else None

        return await wait_until(both_indexed, timeout=60, what="both pushed records indexed")

    return asyncio.run(push_and_wait())


async def test_a_record_in_brussels_is_found_by_country_and_mapped_in_brussels(base_url, pushed) -> None:
    records, body = RECORDS, pushed
    assert body["facets"]["country"] == {"BE": 1, "FR": 1}
    assert body["labels"]["country"] == {"BE": "Belgique", "FR": "France"}

    be = (await _get(base_url, "/api/v1/search", q=TAG, country="BE")).json()
    assert be["total"] == 1
    [hit] = be["hits"]
    assert hit["title"].startswith("Atelier de réparation solidaire")
    assert (hit["country"], hit["country_name"]) == ("BE", "Belgique")
    assert hit["lat"] == pytest.approx(BRUSSELS[0], abs=0.05) and hit["lon"] == pytest.approx(BRUSSELS[1], abs=0.05)
    # never in France: no French commune, département or région
    assert hit["commune"] is None and hit["departement"] is None and hit["region"] is None
    assert be["facets"]["region"] == {} and be["facets"]["departement"] == {} and be["facets"]["commune"] == {}

    fr = (await _get(base_url, "/api/v1/search", q=TAG, country="FR")).json()
    assert [h["title"] for h in fr["hits"]] == [records[1]["title"]] and fr["hits"][0]["commune"] == "21231"

    # on the map at Brussels (a cluster of one: the project itself)
    geo = (await _get(base_url, "/api/v1/map", bbox="-10,35,20,60", zoom=6, q=TAG, country="BE")).json()
    [feature] = geo["features"]
    lon, lat = feature["geometry"]["coordinates"]
    assert lat == pytest.approx(BRUSSELS[0], abs=0.05) and lon == pytest.approx(BRUSSELS[1], abs=0.05)
    assert feature["properties"]["title"] == hit["title"]
    france = (await _get(base_url, "/api/v1/map", bbox="-10,35,20,60", zoom=6, q=TAG, country="FR")).json()
    assert all(f["geometry"]["coordinates"][1] < 48 for f in france["features"])  # Dijon only

    # the search page offers the facet « Pays » with the French name
    page = (await _get(base_url, "/", q=TAG)).text
    assert "<h2>Pays</h2>" in page and "Belgique" in page
    page = (await _get(base_url, "/", q=TAG, country="BE")).text
    assert "Atelier de réparation solidaire" in page and "Atelier de réparation partagé" not in page


def test_a_visitor_ticks_the_country_and_sees_the_project_on_the_map(base_url, pushed) -> None:
    """In a real browser (chromium): the « Pays » facet offers « Belgique »; ticking it leaves the
    Brussels project only, with « Brussels · Belgique » under its title and one marker on the map."""
    from playwright.sync_api import expect

    from tests.e2e.browser_support import browser_pages
    from tests.e2e.test_browser import _chromium

    with browser_pages({"base": base_url, "chromium": _chromium()}) as (new_page, errors):
        page = new_page()
        page.goto(f"/?q={TAG}")
        belgium = page.locator(".facets a[data-facet=country][data-value='BE']")
        expect(belgium).to_contain_text("Belgique")
        expect(page.locator(".facets a[data-facet=country][data-value='FR']")).to_contain_text("France")
        # the country group starts closed (only theme and région open): the visitor opens it first
        page.locator("details.facet:has(a[data-facet=country]) > summary").click()
        belgium.click()
        expect(page).to_have_url(re.compile(r"country=BE"))
        expect(page.locator("li.hit")).to_have_count(1)
        expect(page.locator("li.hit")).to_contain_text("Atelier de réparation solidaire")
        expect(page.locator("text=Brussels · Belgique")).to_be_visible()
        expect(page.locator("#map")).to_have_attribute("data-loaded", "1", timeout=15_000)
        expect(page.locator("#map .point-icon")).to_have_count(1)
        assert errors == []
