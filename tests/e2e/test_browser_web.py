"""The public pages in a real browser (Playwright driving Debian's chromium) at a phone's size
(390×844) and a desktop's (1280×800): no sideways scrolling, a usable search box, results in the
first screen on a phone, touch targets of 44 px, no serious or critical axe-core violation (axe-core
vendored from npm under tests/e2e/vendor/); the map (popup card, the list following the map,
projects at one place spread); a visitor's report → the moderator's decision → its effect on the
project and the reporter's mail; the embeddable map in an iframe of another origin; the search
page's weight on a phone; the API page offline. See docs/web.md."""

from __future__ import annotations

import http.server
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from libs.contracts.partner_events import PartnerInfo, PartnerStatusChanged
from services.gateway.partners import directory
from services.indexer.adapters.search import PostgresIndexWriter
from tests.e2e.browser_support import gateway_site, login, query_db, wait_mail
from tests.e2e.test_browser import shots  # noqa: F401 — the screenshot folder
from tests.helpers_accounts import create_user
from tests.integration.test_search_conformance import PROJECTS

pytestmark = pytest.mark.e2e
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PHONE, DESKTOP = (390, 844), (1280, 800)
MODERATOR = "moderatrice@exemple.org"
PARTNERS = (PartnerInfo(slug="alpha", name="Réseau Alpha des tiers-lieux", licence="Licence Ouverte 2.0",
                        base_url="https://alpha.example.org/"),
            PartnerInfo(slug="beta", name="Fondation Beta", licence="CC BY 4.0"))
"""The partners as the crawler announces them on crawl.partners.v1 (stored by the gateway's directory)."""
PUBLIC_PAGES = ("/", "/?q=jardin", "/?theme=alimentation", "/annonces", "/statistiques", "/projets/jardin-roubaix",
                "/projets/jardin-roubaix/signaler", "/partenaires", "/partenaires/alpha", "/integrer",
                "/embed?source=alpha", "/inscription", "/connexion", "/mot-de-passe-oublie", "/annonces/nouvelle")
PAGE_WEIGHT_LIMIT = 500 * 1024


async def _prepare(engine) -> None:
    writer = PostgresIndexWriter(engine)
    await writer.upsert_many([(p, 1) for p in PROJECTS])
    await create_user(engine, MODERATOR, roles=("moderator",))
    async with engine.begin() as conn:
        for partner in PARTNERS:
            await directory.apply(conn, PartnerStatusChanged(partner=partner))


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    yield from gateway_site(stack, tmp_path_factory, "browserweb", _prepare)


@contextmanager
def _browser(site, size, bypass_csp: bool = False):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=site["chromium"], headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        errors: list[str] = []

        def new_page():
            context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="fr-FR",
                                          base_url=site["base"], bypass_csp=bypass_csp, has_touch=size == PHONE)
            page = context.new_page()
            page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
            return page

        try:
            yield new_page, errors
        finally:
            browser.close()


OVERFLOW_JS = """() => {
  const w = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return r.width > 0 && r.right > w + 1 && s.position !== 'fixed' && !e.closest('.leaflet-container, .facets');
  }).slice(0, 3).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
  return {scroll: document.documentElement.scrollWidth, width: w, wide};
}"""
SMALL_TARGETS_JS = """() => [...document.querySelectorAll(
    'main button, main select, main input:not([type=hidden]):not([type=radio]):not([type=checkbox]), ' +
    '.chip, .pagination a, .facets li a, .top a, .top summary, .toolbar button, footer a, .export a')]
  .filter(e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
                 return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !e.closest('[aria-hidden=true]')
                        && !e.closest('.leaflet-container'); })
  .filter(e => e.getBoundingClientRect().height < 44 - 0.5)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' "' + (e.textContent || e.name || '').trim().slice(0, 30)
                        + '" ' + Math.round(e.getBoundingClientRect().height))"""


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_public_page_fits(site, size, shots):  # noqa: F811
    with _browser(site, size) as (new_page, errors):
        page = new_page()
        for path in PUBLIC_PAGES:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            found = page.evaluate(OVERFLOW_JS)
            assert found["scroll"] <= found["width"], f"{path} at {size}: scrolls sideways {found}"
            if size == PHONE:
                assert page.evaluate(SMALL_TARGETS_JS) == [], f"{path}: touch targets under 44 px"
            name = re.sub(r"[^a-z0-9]+", "-", path).strip("-") or "accueil"
            page.screenshot(path=str(shots / f"web-{size[0]}-{name}.png"))
        # the search box on a phone, and the first results in the first screen
        for path, box, results in (("/", "#q", ".hit"), ("/annonces", "#mm-q", "#mm-total")):
            page.goto(path)
            width = page.locator(box).bounding_box()["width"]
            assert width >= (200 if size == PHONE else 400), f"{path}: search box {width} px wide"
            first = page.locator(results).first.bounding_box()
            assert first["y"] + 40 < size[1], f"{path}: first result at {first['y']} px"
    assert errors == [], errors


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_serious_accessibility_violation(site, size):
    source = AXE.read_text(encoding="utf-8")
    with _browser(site, size, bypass_csp=True) as (new_page, _errors):
        page = new_page()
        for path in PUBLIC_PAGES + ("/schema",):
            page.goto(path)
            page.wait_for_load_state("networkidle")
            page.add_script_tag(content=source)
            found = page.evaluate("""async () => {
              const r = await axe.run(document, {resultTypes: ['violations']});
              return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
                .map(v => v.id + ': ' + v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(' | '));
            }""")
            assert found == [], f"{path} at {size}: {found}"


def test_phone_search_drawer_toggle_and_weight(site, shots):  # noqa: F811
    from playwright.sync_api import expect

    with _browser(site, PHONE) as (new_page, errors):
        page = new_page()
        sizes: list[int] = []

        def count(response):
            if 300 <= response.status < 400:  # a redirect has no body
                return
            sizes.append(len(response.body()))

        page.on("response", count)
        page.goto("/?theme=alimentation")
        page.wait_for_load_state("networkidle")
        weight = sum(sizes)
        assert 0 < weight <= PAGE_WEIGHT_LIMIT, f"the search page weighs {weight} bytes on a phone"
        print(f"search page on a phone: {weight / 1024:.0f} KB, {len(sizes)} responses")
        expect(page.locator("#open-filters .badge")).to_have_text("1")
        expect(page.locator("#filters")).not_to_be_in_viewport()
        page.locator("#open-filters").click()
        expect(page.locator("#filters")).to_be_in_viewport()
        expect(page.locator("#filters .facet[open] ul.collapsed + button.more").first).to_be_visible()
        page.wait_for_timeout(300)  # the slide
        page.screenshot(path=str(shots / "web-phone-drawer.png"))
        page.locator(".drawer-foot .close-filters").click()
        expect(page.locator("#filters")).not_to_be_in_viewport()
        # list → map → list
        expect(page.locator("#map")).to_be_hidden()
        page.locator("#toggle-view").click()
        expect(page.locator("#map .leaflet-marker-icon").first).to_be_visible(timeout=10_000)
        expect(page.locator(".hits")).to_be_hidden()
        page.screenshot(path=str(shots / "web-phone-map.png"))
        page.locator("#toggle-view").click()
        expect(page.locator(".hits")).to_be_visible()
    assert errors == [], errors


def test_map_popup_list_follows_and_spread(site, shots):  # noqa: F811
    from playwright.sync_api import expect

    with _browser(site, DESKTOP) as (new_page, errors):
        page = new_page()
        page.goto("/")
        expect(page.locator("#total")).to_have_text("12 projets")
        expect(page.locator("#map")).to_have_attribute("data-loaded", re.compile(r"\d"), timeout=10_000)
        # move the map over Lyon: the list follows (debounced), the URL keeps the zone
        page.evaluate("document.getElementById('map').carrefourMap.setView([45.764, 4.8357], 12)")
        expect(page).to_have_url(re.compile(r"bbox=4\.\d+%2C45\.\d+"), timeout=10_000)
        expect(page.locator("#total")).to_have_text("2 projets", timeout=10_000)
        # the order of a search without words is the day's fair order: compare the titles, not their order
        expect(page.locator(".hit h3 a")).to_have_count(2, timeout=10_000)
        assert sorted(page.locator(".hit h3 a").all_inner_texts()) == [
            "Médiation numérique pour les aînés", "Épicerie solidaire de la Croix-Rousse"]
        expect(page.locator("#search-form input[name=bbox]")).to_have_count(1)
        # a dragged map follows too: Lyon's projects leave the view
        page.evaluate("document.getElementById('map').carrefourMap.setView([45.764, 4.8357], 14)")
        page.wait_for_timeout(800)
        box = page.locator("#map").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 600, box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        expect(page.locator("#total")).to_have_text("0 projets", timeout=10_000)

        # a point opens its card (title, place, themes, sources by name, link), without leaving the page
        page.goto("/?q=velo")
        marker = page.locator("#map .leaflet-marker-icon.point-icon")
        expect(marker).to_have_count(1, timeout=10_000)
        marker.click()
        card = page.locator(".leaflet-popup .map-card")
        expect(card).to_contain_text("Atelier vélo participatif")
        expect(card).to_contain_text("Lille")
        expect(card).to_contain_text("Mobilité")
        expect(page).to_have_url(re.compile(r"q=velo"))
        page.screenshot(path=str(shots / "web-map-popup.png"))
        card.get_by_role("link", name="Voir le projet").click()
        expect(page.locator("h1")).to_have_text("Atelier vélo participatif")

        # two projects at one place (Lille's centre): the cluster spreads them at a deep zoom
        page.goto("/?commune=59350")
        expect(page.locator("#map")).to_have_attribute("data-loaded", re.compile(r"\d"), timeout=10_000)
        page.evaluate("document.getElementById('map').carrefourMap.setView([50.6292, 3.0573], 15)")
        cluster = page.locator("#map .cluster-icon", has_text="2")
        expect(cluster).to_have_count(1, timeout=10_000)
        cluster.click()
        expect(page.locator("#map")).to_have_attribute("data-spread", "2", timeout=10_000)
        expect(page.locator("#map .point-icon")).to_have_count(2)
        page.screenshot(path=str(shots / "web-map-spread.png"))
    assert errors == [], errors


def test_partners_by_name_with_licence(site):
    from playwright.sync_api import expect

    with _browser(site, DESKTOP) as (new_page, errors):
        page = new_page()
        page.goto("/?q=jardin")
        expect(page.locator(".hit", has_text="Épeule").locator(".sources")).to_have_text(
            "Sources : Réseau Alpha des tiers-lieux, Fondation Beta")
        page.goto("/projets/jardin-roubaix")
        sources = page.locator(".sources-list")
        expect(sources).to_contain_text("Publié par Réseau Alpha des tiers-lieux")
        expect(sources).to_contain_text("Licence : Licence Ouverte 2.0")
        expect(sources).to_contain_text("Licence : CC BY 4.0")
        expect(sources).to_contain_text("vue le 2 mars 2024")
        sources.get_by_role("link", name="Réseau Alpha des tiers-lieux").click()
        expect(page.locator("h1")).to_have_text("Réseau Alpha des tiers-lieux")
        expect(page.locator("#partner-projects")).to_have_text("4 projets")
        expect(page.locator("#partner-licence")).to_have_text("Licence Ouverte 2.0")
        page.goto("/partenaires")
        expect(page.locator("#partenaire-gamma")).to_contain_text("licence : non précisée")
        # French numbers: a distance with a decimal comma
        page.goto("/?lat=50.63&lon=3.06&sort=nearest")
        expect(page.locator(".hit .where").first).to_contain_text(re.compile(r"à \d+,\d\u00a0km"))
    assert errors == [], errors


def test_report_a_closed_project_then_moderator_confirms(site, shots):  # noqa: F811
    from playwright.sync_api import expect

    with _browser(site, DESKTOP) as (new_page, errors):
        visitor = new_page()
        visitor.goto("/projets/jardins-paris")
        visitor.get_by_text("Signaler un problème").click()
        visitor.get_by_label("Le projet a cessé son activité").check()
        visitor.get_by_label("Précisions").fill("Le jardin a fermé en septembre.")
        visitor.get_by_label("Votre adresse électronique").fill("passant@exemple.org")
        visitor.get_by_role("button", name="Envoyer le signalement").click()
        expect(visitor.locator("#report-thanks")).to_be_visible()
        expect(visitor).to_have_url(re.compile(r"/projets/jardins-paris\?signalement=merci$"))
        visitor.reload()  # post/redirect/get: a refresh sends nothing again
        assert query_db(site["url"], "SELECT count(*) FROM reports WHERE project_id = 'jardins-paris'") == [(1,)]
        # a wrong field is refused with its message, nothing stored
        visitor.goto("/projets/jardins-paris/signaler")
        visitor.get_by_label("C'est un doublon d'un autre projet").check()
        visitor.get_by_role("button", name="Envoyer le signalement").click()
        expect(visitor.locator("#e-dup")).to_contain_text("adresse de la page")
        assert query_db(site["url"], "SELECT count(*) FROM reports") == [(1,)]

        moderator = new_page()
        login(moderator, MODERATOR)
        moderator.goto("/moderation/signalements")
        report = moderator.locator("article.report", has_text="Jardins familiaux de Belleville")
        expect(report).to_contain_text("Le jardin a fermé en septembre.")
        moderator.screenshot(path=str(shots / "web-reports-queue.png"), full_page=True)
        report.get_by_label("Mot pour la personne").fill("Merci, c'est corrigé.")
        report.get_by_role("button", name="Confirmer").click()
        expect(moderator.locator("#report-done")).to_contain_text("confirmé")
        expect(moderator.locator("#reports-empty")).to_be_visible()

        visitor.goto("/projets/jardins-paris")
        expect(visitor.locator("#closed-note")).to_contain_text("a cessé son activité")
        visitor.goto("/?q=belleville")
        expect(visitor.locator(".hit .closed-badge")).to_have_text("Activité arrêtée")
        mail = wait_mail(site["mailbox"], "passant@exemple.org", "Votre signalement")
        body = mail.get_body(preferencelist=("plain",)).get_content()
        assert "pris en compte" in body and "Merci, c'est corrigé." in body and "/projets/jardins-paris" in body
    assert [e for e in errors if "status of 400" not in e] == [], errors  # the refused form answers 400


@contextmanager
def _other_origin(html: str):
    """A page served by another web server (another port: another origin)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_embed_in_an_iframe_of_another_origin(site, shots):  # noqa: F811
    from playwright.sync_api import expect

    base = site["base"]
    html = (f'<!doctype html><html lang="fr"><title>Partenaire</title><h1>Nos projets</h1>'
            f'<iframe id="carte" src="{base}/embed?source=alpha&couleur=aa3300" width="600" height="420"></iframe>'
            f'<iframe id="refus" src="{base}/" width="300" height="200"></iframe></html>')
    with _other_origin(html) as url, _browser(site, DESKTOP) as (new_page, errors):
        assert urlsplit(url).netloc != urlsplit(base).netloc
        page = new_page()
        page.goto(url)
        frame = page.frame_locator("#carte")
        expect(frame.locator("h1")).to_contain_text("4 projets publiés par Réseau Alpha des tiers-lieux")
        expect(frame.locator("#map .leaflet-marker-icon").first).to_be_visible(timeout=10_000)
        colour = frame.locator("html").evaluate("e => getComputedStyle(e).getPropertyValue('--accent').trim()")
        assert colour == "#aa3300"
        point = frame.locator("#map .point-icon").first
        if point.count() == 0:
            frame.locator("#map .cluster-icon").first.click()
        expect(frame.locator("#map .point-icon").first).to_be_visible(timeout=10_000)
        frame.locator("#map .point-icon").first.click()
        link = frame.locator(".leaflet-popup .map-card a.open")
        expect(link).to_have_attribute("target", "_top")
        page.screenshot(path=str(shots / "web-embed.png"))
        # every other page refuses to be framed: the second iframe stays empty
        expect(page.frame_locator("#refus").locator("#q")).to_have_count(0)
        link.click()
        expect(page).to_have_url(re.compile(r"/projets/"))
    assert [e for e in errors if "frame-ancestors" not in e and "Refused to display" not in e] == [], errors
    embed = httpx.get(f"{base}/embed?source=alpha")
    assert "frame-ancestors *" in embed.headers["content-security-policy"] and "x-frame-options" not in embed.headers
    home = httpx.get(f"{base}/")
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{base}/embed?couleur=zz").status_code == 200  # a bad colour: the default one
    assert httpx.get(f"{base}/embed?source=Pas%20un%20slug").status_code == 400
    assert httpx.get(f"{base}/embed?autre=1").status_code == 400


def test_api_page_works_offline(site):
    from playwright.sync_api import expect

    with _browser(site, DESKTOP) as (new_page, errors):
        page = new_page()
        hosts: set[str] = set()
        page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc) if r.url.startswith("http") else None)
        page.goto("/schema")
        expect(page.get_by_text("Carrefour API").first).to_be_visible(timeout=20_000)
        expect(page.get_by_text("/api/v1/search").first).to_be_attached()
        assert hosts == {urlsplit(site["base"]).netloc}, hosts
    assert errors == [], errors
