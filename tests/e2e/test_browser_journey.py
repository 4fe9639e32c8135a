"""The holder journey, in one real browser session (Playwright + Debian's chromium), on a
gateway of its own, through the French pages only:

1. a project holder signs up, confirms the address from the e-mail, logs in;
2. claims the project "Jardin partagé du quartier de l'Épeule"; its published contact confirms
   from the e-mailed link; the page then says the holder manages it;
3. publishes a call for expertise and a job offer linked to it;
4. a visitor (another browser context, no account) finds both by text search on /annonces, on the
   /annonces map and on the search page's map layer, opens the call, writes to its author,
   confirms the message from the e-mail;
5. the holder receives the message in their mailbox (the Maildir the gateway delivers to), with a
   reply-to through the platform and never the visitor's nor the holder's address exposed in
   the pages.

No console error on any page (a CSP violation would be one).
"""

from __future__ import annotations

import re

import pytest

from libs.contracts.events import Contact
from services.indexer.adapters.search import PostgresIndexWriter
from tests.e2e.browser_support import (
    browser_pages,
    fill_post_form,
    gateway_site,
    open_post_on_map,
    publish_job_offer,
    wait_mail,
)
from tests.e2e.test_browser import shots  # noqa: F401 — the screenshot folder
from tests.helpers_accounts import body_of, link_in
from tests.integration.test_search_conformance import ROWS, make_project

pytestmark = pytest.mark.e2e
PROJECT = "jardin-roubaix"
CONTACT = "contact@jardin.example.org"
HOLDER = "lea.porteuse@exemple.org"
PASSWORD = "un jardin pour tout le quartier"
VISITOR = "sami@exemple.fr"
MESSAGE = "Bonjour, je suis expert-comptable à Roubaix et je peux vous aider deux soirs par mois."


async def _seed(engine):
    projects = [make_project(i, row, contact=Contact(email=CONTACT) if row[0] == PROJECT else None)
                for i, row in enumerate(ROWS)]
    await PostgresIndexWriter(engine).upsert_many([(p, 1) for p in projects])


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    yield from gateway_site(stack, tmp_path_factory, "journey", _seed)


def test_holder_publishes_and_a_visitor_reaches_them(site, shots):  # noqa: F811
    from playwright.sync_api import expect

    with browser_pages(site) as (new_page, errors):
        # 1. sign up, confirm, log in
        holder = new_page()
        holder.goto("/inscription")
        holder.get_by_label("Adresse e-mail").fill(HOLDER)
        holder.get_by_label("Nom affiché (facultatif)").fill("Léa")
        holder.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        holder.get_by_label("Confirmez le mot de passe").fill(PASSWORD)
        holder.get_by_role("button", name="Créer mon compte").click()
        expect(holder.locator("h1")).to_have_text("Vérifiez votre messagerie")
        holder.goto(link_in(wait_mail(site["mailbox"], HOLDER, "Confirmez"), "/verification"))
        expect(holder.locator("h1")).to_have_text("Adresse confirmée")

        # 2. claim the project: the login comes first, then back to the claim form
        holder.goto(f"/projets/{PROJECT}")
        holder.click("text=Vous portez ce projet ? Gérez sa fiche")
        expect(holder).to_have_url(re.compile(r"/connexion\?next="))
        holder.fill("#f-email", HOLDER)
        holder.fill("#f-password", PASSWORD)
        holder.click("button:has-text('Se connecter')")
        expect(holder).to_have_url(re.compile(f"/projets/{PROJECT}/revendiquer$"))
        holder.fill("#f-message", "Je coordonne le jardin avec l'association des habitants.")
        holder.click("button:has-text('Envoyer ma demande')")
        expect(holder.locator("[role=status]")).to_contain_text("jardin.example.org")
        contact = new_page()
        contact.goto(link_in(wait_mail(site["mailbox"], CONTACT, "Confirmez"), "/revendications/confirmer"))
        contact.click("button:has-text('Je confirme')")
        expect(contact.locator("[role=status]")).to_contain_text("gère désormais la fiche")
        holder.goto(f"/projets/{PROJECT}")
        expect(holder.locator(".cl-managed")).to_have_text("Projet géré par son porteur")

        # 3. a call for expertise and a job offer, linked to the project
        fill_post_form(holder, "call_for_expertise", "Cherche comptable bénévole",
                       "Le jardin cherche quelqu'un pour tenir les comptes de l'association.", "comptabilite", PROJECT)
        holder.click("button:has-text('Publier')")
        expect(holder.locator(".mm-notice")).to_have_text("Votre annonce est publiée.")
        call_url = holder.url.split("?")[0]
        publish_job_offer(holder, PROJECT)
        holder.screenshot(path=str(shots / "journey-1-offre.png"), full_page=True)

        # 4. a visitor finds them by search and on the maps, and writes to the call's author
        visitor = new_page()
        visitor.goto(f"/projets/{PROJECT}")
        expect(visitor.get_by_role("link", name="Contacter le porteur du projet")).to_have_attribute(
            "href", f"/contact/projet/{PROJECT}")
        expect(visitor.locator(".mm-project-posts li")).to_have_count(2)
        visitor.goto("/annonces")
        visitor.fill("#mm-q", "comptabel")  # a typo: still found
        visitor.press("#mm-q", "Enter")
        expect(visitor.locator("#mm-total")).to_have_text("1 annonce")
        expect(visitor.locator(".mm-hit").first).to_contain_text("Cherche comptable bénévole")
        expect(visitor.locator("#map .leaflet-marker-icon").first).to_be_visible(timeout=10_000)
        visitor.goto("/annonces?q=jardin")
        expect(visitor.locator(".mm-hit", has_text="Animateur ou animatrice de jardin")).to_have_count(1)
        visitor.goto("/")
        expect(visitor.locator("#map .post-icon, #map .post-cluster").first).to_be_visible(timeout=10_000)
        visitor.screenshot(path=str(shots / "journey-2-carte.png"))
        open_post_on_map(visitor, "Appel à expertise : Cherche comptable bénévole")
        expect(visitor).to_have_url(call_url)
        visitor.click("a:has-text(\"Contacter l'auteur\")")
        expect(visitor).to_have_url(re.compile(r"/contact/annonce/"))
        visitor.fill("#f-name", "Sami")
        visitor.fill("#f-email", VISITOR)
        visitor.fill("#f-body", MESSAGE)
        visitor.click("button:has-text('Envoyer le message')")
        expect(visitor.locator("h1")).to_have_text("Vérifiez votre boîte aux lettres")
        visitor.goto(link_in(wait_mail(site["mailbox"], VISITOR, "Confirmez"), "/conversation/"))
        visitor.click("button:has-text(\"Confirmer l'envoi\")")
        expect(visitor.locator(".ct-status")).to_contain_text("votre message est parti")
        assert HOLDER not in visitor.content() and CONTACT not in visitor.content()

        # 5. the holder receives it, with a reply-to through the platform
        mail = wait_mail(site["mailbox"], HOLDER, "Message à propos")
        assert MESSAGE in body_of(mail)
        assert VISITOR not in str(mail["Reply-To"]) and "reponse+" in str(mail["Reply-To"])
        holder.goto("/compte")
        holder.get_by_role("link", name="Mes annonces").click()
        expect(holder.locator("main")).to_contain_text("Animateur ou animatrice de jardin")
        holder.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Messages").click()
        expect(holder.locator("main")).to_contain_text("Cherche comptable bénévole")
        holder.screenshot(path=str(shots / "journey-3-messages.png"), full_page=True)
        assert errors == [], errors
