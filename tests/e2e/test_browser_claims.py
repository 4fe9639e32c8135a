"""Claims and holder edits in a real browser (Playwright driving Debian's chromium), in French:
a holder claims a project from its page, the project's published contact confirms by the e-mailed
link (no account), the page then says "Projet géré par son porteur" and offers the holder the edit
form, whose errors show next to the fields; a second claim (no published contact) is approved by a
partner user of the project's source on the reviewers' page. No console error (a CSP violation
would be one). Screenshots under ``.run/screenshots/`` (or ``$SCREENSHOT_DIR``)."""

from __future__ import annotations

import re

import pytest

from libs.contracts.events import Contact
from services.indexer.adapters.search import PostgresIndexWriter
from tests.e2e.browser_support import browser_pages, gateway_site, login, wait_mail
from tests.e2e.test_browser import shots  # noqa: F401 — the screenshot folder
from tests.helpers_accounts import create_user, link_in
from tests.integration.test_search_conformance import ROWS, make_project

pytestmark = pytest.mark.e2e
CONTACT = "contact@jardin.example.org"
WITH_CONTACT, WITHOUT_CONTACT = "jardin-roubaix", "epicerie-lyon"


async def _seed(engine) -> dict[str, str]:
    projects = [make_project(i, row, contact=Contact(email=CONTACT) if row[0] == WITH_CONTACT else None)
                for i, row in enumerate(ROWS)]
    await PostgresIndexWriter(engine).upsert_many([(p, 1) for p in projects])
    partner = next(p for p in projects if p.id == WITHOUT_CONTACT).sources[0].partner
    await create_user(engine, "porteuse@exemple.org", display_name="Camille Porteuse")
    await create_user(engine, "partenaire@exemple.org", display_name="Partenaire", partner=partner)
    return {p.id: p.title for p in projects}


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    yield from gateway_site(stack, tmp_path_factory, "browserclaims", _seed)


@pytest.fixture
def browser(site):
    with browser_pages(site, width=1200) as (new_page, errors):
        yield new_page, errors


def test_claim_confirm_edit_and_partner_review(site, browser, shots):  # noqa: F811
    from playwright.sync_api import expect

    new_page, errors = browser
    holder = new_page()

    # anonymous: the claim page asks for a login first, then comes back
    holder.goto(f"/projets/{WITH_CONTACT}")
    expect(holder.locator(".cl-managed")).to_have_count(0)
    holder.click("text=Vous portez ce projet ? Gérez sa fiche")
    expect(holder).to_have_url(re.compile(r"/connexion\?next="))
    holder.fill("#f-email", "porteuse@exemple.org")
    holder.fill("#f-password", "correct horse battery")
    holder.click("button:has-text('Se connecter')")
    expect(holder).to_have_url(re.compile(f"/projets/{WITH_CONTACT}/revendiquer$"))
    expect(holder.locator("h1")).to_contain_text("Gérer la fiche")
    holder.fill("#f-message", "Je coordonne le jardin depuis 2021.")
    holder.screenshot(path=str(shots / "claims-1-demande.png"))
    holder.click("button:has-text('Envoyer ma demande')")
    expect(holder.locator("[role=status]")).to_contain_text("c…@jardin.example.org")

    # the published contact confirms from the e-mail, without an account
    link = link_in(wait_mail(site["mailbox"], CONTACT, "Confirmez"), "/revendications/confirmer")
    contact = new_page()
    contact.goto(link)
    expect(contact.locator("main")).to_contain_text("Camille Porteuse demande à gérer")
    expect(contact.locator("main")).to_contain_text("Je coordonne le jardin depuis 2021.")
    contact.click("button:has-text('Je confirme')")
    expect(contact.locator("[role=status]")).to_contain_text("Camille Porteuse gère désormais la fiche")
    wait_mail(site["mailbox"], "porteuse@exemple.org", "Vous gérez désormais")

    # the project page now says it, and offers the holder the edit form
    holder.goto(f"/projets/{WITH_CONTACT}")
    expect(holder.locator(".cl-managed")).to_have_text("Projet géré par son porteur")
    holder.click("text=Modifier la fiche du projet")
    expect(holder.locator("h1")).to_contain_text("Modifier la fiche")
    holder.fill("#f-summary", "Un jardin ouvert à tout le quartier, le samedi matin.")
    holder.fill("#f-website", "pas-une-adresse")
    holder.check("input[name=themes][value=alimentation]")
    holder.check("input[name=themes][value=solidarite-lien-social]")
    holder.select_option("#f-stage", "developpement")
    holder.click("button:has-text('Enregistrer')")
    expect(holder.locator("#e-website")).to_contain_text("https://")
    expect(holder.locator("#f-website")).to_have_attribute("aria-invalid", "true")
    expect(holder.locator("#f-summary")).to_have_value("Un jardin ouvert à tout le quartier, le samedi matin.")
    holder.screenshot(path=str(shots / "claims-2-erreur.png"))
    # the refused form answers 400, which chromium logs; nothing else may be logged
    assert [e for e in errors if "status of 400" not in e] == [], errors
    errors.clear()
    holder.fill("#f-website", "https://jardin.example.org")
    holder.fill("#f-contact_email", "jardin@porteuse.example.org")
    holder.click("button:has-text('Enregistrer')")
    expect(holder.locator("#statut")).to_contain_text("Modifications enregistrées")
    expect(holder.locator("input[name=themes][value=solidarite-lien-social]")).to_be_checked()
    holder.screenshot(path=str(shots / "claims-3-enregistre.png"))

    # a second claim: no published contact, a partner of the project's source approves it
    holder.goto(f"/projets/{WITHOUT_CONTACT}/revendiquer")
    expect(holder.locator(".cl-hint").first).to_contain_text("Aucune adresse e-mail")
    holder.click("button:has-text('Envoyer ma demande')")
    expect(holder.locator("[role=status]")).to_contain_text("va l'examiner")
    partner = new_page()
    login(partner, "partenaire@exemple.org")
    partner.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Demandes").click()
    claim = partner.locator(".cl-claim", has_text=site["seeded"][WITHOUT_CONTACT])
    expect(claim).to_contain_text("Camille Porteuse")
    partner.screenshot(path=str(shots / "claims-4-examen.png"))
    claim.locator("button:has-text('Accepter')").click()
    expect(partner.locator("[role=status]")).to_contain_text("Demande acceptée")

    holder.goto("/mes-projets")
    expect(holder.locator(".cl-list")).to_contain_text(site["seeded"][WITHOUT_CONTACT])
    expect(holder.locator(".cl-list")).to_contain_text(site["seeded"][WITH_CONTACT])
    assert errors == [], errors
