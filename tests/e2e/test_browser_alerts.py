"""Saved searches, alerts and search as you type, in headless chromium, on the real pipeline
(normalizer, geocoder, indexer and gateway as their own processes on the embedded broker and a
database of their own):

1. a logged-in user searches, saves the search as a daily alert; a partner pushes two projects
   through the ingest API; the matching one goes through the pipeline, the gateway's alerts
   consumer records it, the digest job mails it (the Maildir); the unsubscribe link of the mail,
   opened without any login, stops the alert;
2. search as you type, at phone (390×844) and desktop (1280×800) sizes: the results, the total and
   the URL follow the typing with no page load; a matching post appears among the results, marked
   as a post; without JavaScript the form still searches.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.search import fold
from services.indexer.adapters.search import PostgresIndexWriter
from tests.conftest import create_api_key, fresh_database, print_log_tails, wait_ready
from tests.e2e.browser_support import browser_pages, login, wait_mail
from tests.e2e.test_browser import (
    _chromium,
    shots,  # noqa: F401 — the screenshot folder
)
from tests.helpers_accounts import body_of, create_user
from tests.integration.test_search_conformance import PROJECTS
from tools.devstack import free_port, start_service, stop_process

pytestmark = pytest.mark.e2e
USER = "elue@example.org"
PARTNER = "alertes-partenaire"
API_KEY = "alerts-key-" + uuid.uuid4().hex
TAG = "zq" + uuid.uuid4().hex[:5]  # one unique word: only this test's projects have it
PIPELINE = ("normalizer", "geocoder", "indexer", "gateway")


async def _seed(url: str) -> None:
    engine = create_async_engine(url)
    try:
        await PostgresIndexWriter(engine).upsert_many([(p, 1) for p in PROJECTS])
        user_id = await create_user(engine, USER)
        now = datetime.now(UTC)
        title, body = "Bénévole pour un jardin partagé", "Je donne deux soirs par semaine aux jardins du quartier."
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO mm_posts (id, kind, author_id, title, description, skills, themes, commune, commune_name, "
                "departement, departement_name, region, region_name, lat, lon, expires_at, title_folded, body_folded, "
                "words_folded) VALUES ('benevole-jardin', 'expertise_offer', :a, :t, :d, '{jardinage}', "
                "'{alimentation}', '59512', 'Roubaix', '59', 'Nord', '32', 'Hauts-de-France', 50.69, 3.17, :e, :tf, "
                ":bf, :wf)"),
                {"a": user_id, "t": title, "d": body, "e": now + timedelta(days=60), "tf": fold(title),
                 "bf": fold(body), "wf": fold(f"{title} jardinage")})
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    chromium = _chromium()
    url = fresh_database(stack, "browser_alerts")
    asyncio.run(_seed(url))
    create_api_key(url, PARTNER, API_KEY, label="alerts")
    tmp = tmp_path_factory.mktemp("browser_alerts")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = stack.service_env(DATABASE_URL=url, GATEWAY_PORT=str(port), LOG_LEVEL="INFO",
                            MAILBOX_DIR=str(tmp / "mailbox"), INBOUND_MAILBOX_DIR=str(tmp / "inbound"),
                            PUBLIC_BASE_URL=base, ALERTS_DIGEST_INTERVAL_S="1", SECRET_KEY="browser-alerts-secret")
    assert env["ALERTS_SUBSCRIBER"] == "true"  # on by default in the stack, as in the deployments
    procs = {name: start_service(name, env, tmp / "logs") for name in PIPELINE}
    try:
        wait_ready(base, timeout=180)  # four processes starting on a shared machine
        yield dict(base=base, chromium=chromium, mailbox=tmp / "mailbox", url=url)
    finally:
        for name in reversed(PIPELINE):
            stop_process(procs[name])
        print_log_tails(tmp / "logs", PIPELINE)


def _push(base: str, records: list[dict]) -> None:
    r = httpx.post(f"{base}/api/v1/ingest", headers={"X-API-Key": API_KEY}, json={"records": records}, timeout=30)
    assert r.status_code in (200, 202), r.text


def test_save_a_search_new_projects_arrive_digest_and_unsubscribe(site, shots):  # noqa: F811
    from playwright.sync_api import expect

    with browser_pages(site, width=1280, height=800) as (new_page, errors):
        page = new_page()
        login(page, USER)
        page.goto(f"/?q=rucher+{TAG}&region=32")
        expect(page.locator("#total")).to_have_text("0 projets")
        page.click("text=Créer une alerte")
        expect(page.locator("h1")).to_have_text("Créer une alerte")
        expect(page.locator(".alert-search")).to_contain_text(f"« rucher {TAG} »")
        page.fill("#f-name", "Ruchers des Hauts-de-France")
        page.check("input[name=frequency][value=daily]")
        page.get_by_role("button", name="Enregistrer l'alerte").click()
        expect(page.locator("[role=status]")).to_have_text("Votre alerte est enregistrée.")
        expect(page.locator(".alert-item h2")).to_have_text("Ruchers des Hauts-de-France")
        page.screenshot(path=str(shots / "alerts-1-mes-alertes.png"), full_page=True)

        # a partner pushes two projects: only the one in Lille about beehives matches
        _push(site["base"], [
            {"source": PARTNER, "source_record_id": f"r-{TAG}", "url": f"https://alertes.example/{TAG}/r",
             "title": f"Rucher partagé {TAG}", "description": "Des ruches en ville, entretenues par les voisins.",
             "commune": "Lille", "postcode": "59000", "themes": ["Environnement"]},
            {"source": PARTNER, "source_record_id": f"v-{TAG}", "url": f"https://alertes.example/{TAG}/v",
             "title": f"Rucher pédagogique {TAG}", "description": "Un rucher pour les écoles.",
             "commune": "Lyon", "postcode": "69001"},
        ])
        mail = wait_mail(site["mailbox"], USER, "Ruchers des Hauts-de-France", timeout=180)
        body = body_of(mail)
        assert f"Rucher partagé {TAG}" in body and "Lille" in body
        assert "pédagogique" not in body  # Lyon is not in the Hauts-de-France
        project_url = re.search(r"http://\S+/projets/\S+", body).group(0)
        # the digest and the search index follow the same event: the page may trail the mail by a moment
        deadline = time.monotonic() + 30
        while httpx.get(project_url, timeout=5).status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.5)
        page.goto(project_url)
        expect(page.locator("h1")).to_contain_text(f"Rucher partagé {TAG}")

        # unsubscribe from the mail, in another browser with no session
        link = re.search(r"http://\S+/alertes/desabonnement/\S+", body).group(0)
        assert mail["List-Unsubscribe"] == f"<{link}>"
        stranger = new_page()
        stranger.goto(link)
        stranger.click("button:has-text('Ne plus recevoir cette alerte')")
        expect(stranger.locator("h1")).to_have_text("Désabonnement confirmé")
        stranger.screenshot(path=str(shots / "alerts-2-desabonnement.png"), full_page=True)
        page.goto("/alertes")
        expect(page.locator(".alert-item")).to_have_count(0)
        assert not errors, errors


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "desktop"])
def test_results_follow_the_typing(site, shots, size):  # noqa: F811
    from playwright.sync_api import expect

    width, height = size
    expected = httpx.get(f"{site['base']}/api/v1/search", params={"q": "jardin"}).json()["total"]
    assert expected > 1
    with browser_pages(site, width=width, height=height) as (new_page, errors):
        page = new_page()
        page.goto("/")
        expect(page.locator("#total")).to_have_text(re.compile(r"^\d+ projets$"))
        everything = page.locator("#total").inner_text()
        page.evaluate("window.__sameDocument = true")
        page.locator("#q").press_sequentially("jardin", delay=60)
        expect(page.locator("#total")).to_have_text(f"{expected} projets")
        expect(page).to_have_url(re.compile(r"/\?q=jardin$"))
        expect(page.locator("ol.hits > li.hit:not(.post-hit) h3").first).to_contain_text("Jardin")
        # a matchmaking post among the results, marked as one
        post = page.locator(".posts-in-results .post-hit")
        expect(post).to_have_count(1)
        expect(post).to_contain_text("Annonce")
        expect(post.locator("a")).to_have_attribute("href", "/annonces/benevole-jardin")
        expect(page.locator("a:has-text('Créer une alerte')")).to_have_attribute("href", "/alertes/nouvelle?q=jardin")
        assert page.evaluate("window.__sameDocument") is True  # no page load: the results were swapped in
        # a word more narrows; clearing the box brings everything back
        page.locator("#q").press_sequentially(" famil", delay=60)
        expect(page.locator("#total")).to_have_text("1 projet")
        expect(page).to_have_url(re.compile(r"q=jardin\+famil"))
        expect(page.locator(".posts-in-results")).to_have_count(0)
        page.screenshot(path=str(shots / f"live-search-{width}.png"), full_page=True)
        page.fill("#q", "")
        expect(page.locator("#total")).to_have_text(everything)
        expect(page).to_have_url(re.compile(r"/$"))
        assert page.evaluate("window.__sameDocument") is True
        assert not errors, errors


def test_without_javascript_the_form_still_searches(site):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=site["chromium"], headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            page = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844},
                                       base_url=site["base"]).new_page()
            page.goto("/")
            page.fill("#q", "jardin")
            page.press("#q", "Enter")
            expect(page).to_have_url(re.compile(r"q=jardin"))
            expect(page.locator(".posts-in-results .post-hit")).to_contain_text("Annonce")
        finally:
            browser.close()
