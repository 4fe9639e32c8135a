"""Matchmaking pages in a real browser (Playwright + Debian's chromium), on a gateway of their own.

A holder publishes a call for expertise (the form shows only the fields of the chosen kind; errors
next to the fields first) and a job offer; a person offers expertise from a commune picked with
suggestions and sees the call suggested, with its reasons; a visitor finds the posts on /annonces
(text, facet, map), on the search page's map layer and on the project page, and reports one; a
moderator hides it. No console error (the CSP would report inline scripts or styles).
Screenshots in ``.run/screenshots/matchmaking-*.png``.
"""

from __future__ import annotations

import re

import pytest

from services.indexer.adapters.search import PostgresIndexWriter
from tests.e2e.browser_support import browser_pages, gateway_site, login, open_post_on_map, publish_job_offer
from tests.e2e.test_browser import shots  # noqa: F401 — the screenshot folder
from tests.helpers_accounts import create_user, make_holder
from tests.integration.test_search_conformance import PROJECTS

pytestmark = pytest.mark.e2e


async def _seed(engine):
    await PostgresIndexWriter(engine).upsert_many([(p, 1) for p in PROJECTS])
    holder = await create_user(engine, "porteuse@exemple.org", display_name="Porteuse")
    await create_user(engine, "comptable@exemple.org", display_name="Comptable")
    await create_user(engine, "visiteur@exemple.org", display_name="Visiteur")
    await create_user(engine, "modo@exemple.org", roles=("moderator",))
    await make_holder(engine, "jardin-roubaix", holder)


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    yield from gateway_site(stack, tmp_path_factory, "browsermm", _seed)


@pytest.fixture
def browser(site):
    with browser_pages(site) as pages:
        yield pages


def test_publish_find_suggest_report_and_hide(site, browser, shots):  # noqa: F811
    from playwright.sync_api import expect

    new_page, errors = browser

    # --- the holder publishes a call for expertise, then a job offer
    page = new_page()
    login(page, "porteuse@exemple.org")
    page.goto("/annonces")
    page.click("a:has-text('Publier une annonce')")
    expect(page.locator("h1")).to_have_text("Publier une annonce")
    page.check("input[name=kind][value=call_for_expertise]")
    expect(page.locator("#f-availability")).to_be_hidden()          # fields of the other kinds hide
    expect(page.locator("#f-contract_type")).to_be_hidden()
    expect(page.locator("#f-project_id")).to_be_visible()
    page.fill("#f-title", "Cherche comptable bénévole")
    page.fill("#f-description", "trop court")
    page.click("button:has-text('Publier')")
    expect(page.locator("#err-description")).to_have_text("Au moins 20 caractères.")
    expect(page.locator("#f-description")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-project_id")).to_be_visible()
    expect(page.locator("#mm-errors")).to_be_focused()
    assert [e for e in errors if "status of 400" not in e] == [], errors  # the refused form answers 400
    errors.clear()
    page.select_option("#f-project_id", "jardin-roubaix")
    page.fill("#f-description", "Notre jardin partagé cherche quelqu'un pour tenir les comptes de l'association.")
    page.check("input[name=skills][value=comptabilite]")
    page.screenshot(path=str(shots / "matchmaking-1-form.png"), full_page=True)
    page.click("button:has-text('Publier')")
    expect(page.locator(".mm-notice")).to_have_text("Votre annonce est publiée.")
    expect(page.locator("h1")).to_have_text("Cherche comptable bénévole")
    expect(page.locator(".where")).to_contain_text("Roubaix")
    call_url = page.url.split("?")[0]

    publish_job_offer(page, "jardin-roubaix")

    # --- a person offers expertise from a commune picked with suggestions; the call is suggested
    page = new_page()
    login(page, "comptable@exemple.org")
    page.goto("/annonces/nouvelle?type=expertise_offer")
    expect(page.locator("#f-project_id")).to_be_hidden()
    page.fill("#f-title", "Comptable retraitée, disponible")
    page.fill("#f-description", "Trente ans de métier ; j'aide volontiers les associations de mon quartier.")
    page.check("input[name=skills][value=comptabilite]")
    page.fill("#f-skills-other", "gestion associative")
    page.locator("#f-commune").press_sequentially("Roub", delay=40)
    expect(page.locator("#mm-communes option[value='Roubaix (59100)']")).to_be_attached(timeout=5000)
    page.fill("#f-commune", "Roubaix (59100)")
    page.fill("#f-availability", "deux demi-journées par semaine")
    page.click("button:has-text('Publier')")
    expect(page.locator(".mm-notice")).to_have_text("Votre annonce est publiée.")
    suggestion = page.locator(".mm-suggestions li", has_text="Cherche comptable bénévole")
    expect(suggestion).to_contain_text("compétence commune : Comptabilité")
    expect(suggestion).to_contain_text("même commune")
    page.screenshot(path=str(shots / "matchmaking-2-suggestions.png"), full_page=True)

    # --- a visitor finds them: /annonces (text, facet, map), the search page's map, the project page
    page = new_page()
    page.goto("/annonces")
    expect(page.locator("#mm-total")).to_have_text("3 annonces")
    page.fill("#mm-q", "comptables")
    page.press("#mm-q", "Enter")
    expect(page.locator("#mm-total")).to_have_text("2 annonces")
    page.locator(".facets a[data-facet=kind][data-value=call_for_expertise]").click()
    expect(page).to_have_url(re.compile(r"kind=call_for_expertise"))
    expect(page.locator("#mm-total")).to_have_text("1 annonce")
    expect(page.locator(".chips")).to_contain_text("Appel à expertise")
    expect(page.locator("#map .leaflet-marker-icon").first).to_be_visible(timeout=10_000)
    page.screenshot(path=str(shots / "matchmaking-3-list.png"), full_page=True)
    page.locator("#mm-pres").press_sequentially("Lill", delay=40)  # around a commune, with suggestions
    expect(page.locator("#mm-communes option[value='Lille (59000)']")).to_be_attached(timeout=5000)
    page.fill("#mm-pres", "Lille (59000)")
    page.select_option("#mm-rayon", "25")
    page.press("#mm-pres", "Enter")
    expect(page.locator(".chips")).to_contain_text("Lille (59000), 25 km")
    expect(page.locator(".mm-hit .where")).to_contain_text("à 1")

    page.goto("/")
    stars = page.locator("#map .post-icon, #map .post-cluster")
    expect(stars.first).to_be_visible(timeout=10_000)
    expect(page.locator(".leaflet-control-layers")).to_contain_text("Annonces")
    page.screenshot(path=str(shots / "matchmaking-4-search-map.png"))
    open_post_on_map(page, "Offre d'expertise : Comptable retraitée, disponible")  # one town's posts spread
    expect(page.locator("h1")).to_have_text("Comptable retraitée, disponible")

    page.goto("/projets/jardin-roubaix")
    expect(page.locator(".mm-project-posts li")).to_have_count(2)
    page.locator(".mm-project-posts a", has_text="Cherche comptable bénévole").click()
    expect(page).to_have_url(call_url)
    page.locator("summary:has-text('Signaler cette annonce')").click()
    page.check("input[name=reason][value=fraud]")
    page.fill("#report-details", "Demande un paiement d'avance.")
    page.click("button:has-text('Envoyer le signalement')")
    expect(page.locator(".mm-notice")).to_contain_text("signalée aux modérateurs")

    # --- a moderator hides it from the moderation page; visitors no longer see it
    page = new_page()
    login(page, "modo@exemple.org")
    page.goto("/annonces/moderation")
    row = page.locator("tr", has_text="Cherche comptable bénévole")
    expect(row).to_contain_text("Arnaque ou offre frauduleuse")
    page.screenshot(path=str(shots / "matchmaking-5-moderation.png"), full_page=True)
    row.locator("button:has-text('Masquer')").click()
    expect(page.locator(".mm-warning")).to_contain_text("Annonce masquée par la modération")
    visitor = new_page()
    response = visitor.goto(call_url)
    assert response.status == 404
    assert [e for e in errors if "status of 404" not in e] == [], errors
