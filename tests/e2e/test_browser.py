"""The French web pages in a real headless browser: Playwright (Python) driving Debian's chromium.

Search with suggestions, tick a facet, see the active-filter chip and the map markers, open a
project (its location map and sources), the statistics page; no console error (a CSP violation
would be one). Screenshots are saved under ``.run/screenshots/`` (or ``$SCREENSHOT_DIR``).

Needs chromium (``apt-get install -y chromium``; Playwright's own browser download cannot reach
its host here) and the ``playwright`` package; without either the tests fail (`make test` installs chromium).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from services.indexer.adapters.search import PostgresIndexWriter
from tests.conftest import fresh_database, wait_ready
from tests.integration.test_search_conformance import PROJECTS
from tools.devstack import ROOT, free_port, start_service, stop_process

pytestmark = pytest.mark.e2e
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH") or next(filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None)
    if not path:  # a browser can be installed on every machine this runs on: missing is a failure
        pytest.fail("no chromium executable found: `make browser-deps` installs it "
                    "(`apt-get install -y chromium`), or set CHROMIUM_PATH")
    import playwright.sync_api  # noqa: F401 — a declared test dependency; missing fails the test
    return path


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    chromium = _chromium()
    url = fresh_database(stack, "browser")

    async def index():
        engine = create_async_engine(url)
        writer = PostgresIndexWriter(engine)
        await writer.upsert_many([(p, 1) for p in PROJECTS])
        await engine.dispose()

    asyncio.run(index())
    port = free_port()
    log_dir = tmp_path_factory.mktemp("browser-logs")
    proc = start_service("gateway", stack.service_env(DATABASE_URL=url, GATEWAY_PORT=str(port),
                                                      LOG_LEVEL="WARNING"), log_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(base, timeout=30)
        except AssertionError:
            raise AssertionError("gateway never became ready:\n" + (log_dir / "gateway.log").read_text()) from None
        yield base, chromium
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def shots() -> Path:
    path = Path(os.environ.get("SCREENSHOT_DIR") or ROOT / ".run" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {path}")
    return path


@pytest.fixture
def page(site):
    from playwright.sync_api import sync_playwright

    base, chromium = site
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR", base_url=base)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.errors = errors
        try:
            yield pg
        finally:
            context.close()
            browser.close()


def test_search_filter_map_and_project(page, shots):
    from playwright.sync_api import expect

    page.goto("/")
    expect(page.locator("#total")).to_have_text("12 projets")
    # suggestions while typing
    page.fill("#q", "jard")
    options = page.locator("#suggestions [role=option]")
    expect(options.first).to_be_visible(timeout=5000)
    expect(page.locator("#suggestions")).to_contain_text("Jardin partagé du quartier de l'Épeule")
    expect(page.locator("#q")).to_have_attribute("aria-expanded", "true")
    page.screenshot(path=str(shots / "1-suggestions.png"))

    # search
    page.fill("#q", "jardin")
    page.press("#q", "Enter")  # no suggestion selected: submits the form
    expect(page.locator("#total")).to_have_text("3 projets")
    expect(page.locator(".hit mark").first).to_have_text(re.compile("Jardin", re.I))

    # map: server-side clusters drawn as markers
    markers = page.locator("#map .leaflet-marker-icon")
    expect(markers.first).to_be_visible(timeout=10_000)
    assert markers.count() >= 1
    expect(page.locator("#map path.leaflet-interactive, #map svg path").first).to_be_attached()  # région outlines

    # tick the Hauts-de-France facet
    page.locator(".facets a[data-facet=region][data-value='32']").click()
    expect(page).to_have_url(re.compile(r"region=32"))
    expect(page.locator("#total")).to_have_text("2 projets")
    expect(page.locator(".chips")).to_contain_text("Hauts-de-France")
    expect(markers.first).to_be_visible(timeout=10_000)
    page.wait_for_function("document.getElementById('map').dataset.loaded !== undefined")
    page.screenshot(path=str(shots / "2-results-filtered.png"), full_page=True)

    # open a project
    page.locator(".hit h3 a", has_text="Jardin partagé").click()
    expect(page.locator("h1")).to_have_text("Jardin partagé du quartier de l'Épeule")
    expect(page.locator(".sources-list li")).to_have_count(2)
    expect(page.locator(".sources-list")).to_contain_text("Publié par")
    expect(page.locator("#map .leaflet-marker-icon")).to_have_count(1)
    page.screenshot(path=str(shots / "3-project.png"), full_page=True)

    # remove the chip again: back to the unfiltered search
    page.go_back()
    page.locator(".chips a.chip", has_text="Hauts-de-France").click()
    expect(page.locator("#total")).to_have_text("3 projets")
    assert page.errors == [], page.errors


def test_keyboard_suggestion_and_map_marker_opens_project(page, shots):
    from playwright.sync_api import expect

    page.goto("/?q=velo")
    expect(page.locator("#total")).to_have_text("1 projet")
    marker = page.locator("#map .leaflet-marker-icon.point-icon")
    expect(marker).to_have_count(1, timeout=10_000)
    marker.click()  # a card in a popup, then its link
    page.locator(".leaflet-popup .map-card").get_by_role("link", name="Voir le projet").click()
    expect(page.locator("h1")).to_have_text("Atelier vélo participatif")

    page.goto("/projets/ecole-roubaix")  # same themes 10 km away: the Lille school project
    expect(page.locator(".similar li")).to_have_count(1)
    page.locator(".similar a").click()
    expect(page.locator("h1")).to_have_text("Zéro Déchet à l'école Jules Ferry")

    page.goto("/")
    page.locator("#q").focus()
    page.keyboard.type("epice")
    expect(page.locator("#suggestions [role=option]").first).to_be_visible(timeout=5000)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # the theme suggestion comes first when there is one
    selected = page.locator("#suggestions [aria-selected=true]")
    expect(selected).to_have_count(1)
    if "Épicerie" not in selected.inner_text():
        page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Épicerie solidaire de la Croix-Rousse")
    assert page.errors == [], page.errors


def test_stats_page(page, shots):
    from playwright.sync_api import expect

    page.goto("/statistiques")
    expect(page.locator("h1")).to_have_text("Les projets en chiffres")
    expect(page.locator("#chart-theme tbody tr").first).to_contain_text("Alimentation")
    expect(page.locator("#chart-region")).to_contain_text("Mayotte")
    assert page.locator("#chart-theme rect.bar").count() >= 5
    page.screenshot(path=str(shots / "4-stats.png"), full_page=True)
    assert page.errors == [], page.errors
