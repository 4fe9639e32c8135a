"""Contact pages in a real browser (Playwright + Debian's chromium), on a gateway of their own.

An anonymous visitor writes to a project with no holder (errors shown next to the fields first),
confirms from the e-mailed secret link, sees the contact's e-mailed reply (dropped in the inbound
Maildir) and answers on the page; a logged-in visitor writes to a holder, the holder answers on
the platform and reports the message, a moderator hides it. No console error (the CSP would
report inline scripts or styles). Screenshots in ``.run/screenshots/contact-*.png``.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from libs.contracts.events import Contact
from services.indexer.adapters.search import PostgresIndexWriter
from tests.e2e.browser_support import browser_pages, gateway_site, login, wait_mail
from tests.e2e.test_browser import shots  # noqa: F401 — the screenshot folder
from tests.helpers_accounts import body_of, create_user, link_in, make_holder
from tests.integration.test_search_conformance import ROWS, make_project

pytestmark = pytest.mark.e2e
DOMAIN = "carrefour.test"
CONTACT = "contact@jardin.example.org"
BODY = "Bonjour, je voudrais rejoindre le jardin partagé et apporter des graines."


async def _seed(engine):
    projects = [make_project(i, row, contact=Contact(email=CONTACT) if row[0] == "jardin-roubaix" else None)
                for i, row in enumerate(ROWS)]
    await PostgresIndexWriter(engine).upsert_many([(p, 1) for p in projects])
    holder = await create_user(engine, "porteuse@exemple.org", display_name="Porteuse")
    await create_user(engine, "visiteur@exemple.org", display_name="Visiteur Connecté")
    await create_user(engine, "modo@exemple.org", roles=("moderator",))
    await make_holder(engine, "epicerie-lyon", holder)


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    yield from gateway_site(stack, tmp_path_factory, "browsercontact", _seed, INBOUND_POLL_S="0.3", MAIL_DOMAIN=DOMAIN)


@pytest.fixture
def browser(site):
    with browser_pages(site, width=1200) as pages:
        yield pages


def test_anonymous_visitor_writes_confirms_and_follows_the_conversation(site, browser, shots):  # noqa: F811
    from playwright.sync_api import expect

    new_page, errors = browser
    page = new_page()
    page.goto("/contact/projet/jardin-roubaix")
    expect(page.locator("h1")).to_have_text("Écrire au porteur du projet")
    expect(page.locator(".ct-about")).to_contain_text("Jardin partagé du quartier de l'Épeule")
    trap = page.locator("#f-site").bounding_box()  # the honeypot: off-screen, out of the tab order
    assert trap is None or trap["x"] + trap["width"] <= 0, trap
    page.fill("#f-body", "court")
    page.click("button:has-text('Envoyer le message')")
    expect(page.locator("#e-name")).to_have_text("Indiquez votre nom.")
    expect(page.locator("#f-name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-body")).to_contain_text("au moins 10")
    assert [e for e in errors if "status of 400" not in e] == [], errors  # the refused form answers 400
    errors.clear()
    page.fill("#f-name", "Paul")
    page.fill("#f-email", "paul@exemple.fr")
    page.fill("#f-body", BODY)
    page.screenshot(path=str(shots / "contact-1-form.png"), full_page=True)
    page.click("button:has-text('Envoyer le message')")
    expect(page.locator("h1")).to_have_text("Vérifiez votre boîte aux lettres")

    link = link_in(wait_mail(site["mailbox"], "paul@exemple.fr", "Confirmez"), "/conversation/")
    page.goto(link)
    page.click("button:has-text(\"Confirmer l'envoi\")")
    expect(page.locator(".ct-status")).to_contain_text("votre message est parti")
    mail = wait_mail(site["mailbox"], CONTACT, "Message à propos")
    assert BODY in body_of(mail)

    # the project's contact answers by e-mail: it lands in the inbound Maildir, then on the page
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = CONTACT, str(mail["Reply-To"]), "Re: message"
    reply["Message-ID"] = "<browser-1@jardin.example.org>"
    reply.set_content("Avec plaisir, venez samedi matin !\n\nLe jeu. 26 nov. 2026, Carrefour a écrit :\n> " + BODY)
    (site["inbound"] / "new").mkdir(parents=True, exist_ok=True)
    (site["inbound"] / "new" / "browser-1.mail").write_bytes(reply.as_bytes())
    forwarded = wait_mail(site["mailbox"], "paul@exemple.fr", "Re:")
    page.goto(link_in(forwarded, "/conversation/"))
    expect(page.locator(".ct-msg.theirs .ct-body")).to_have_text("Avec plaisir, venez samedi matin !")
    expect(page.locator(".ct-msg.theirs")).to_contain_text("par courriel")
    page.fill("#f-body", "Merci, à samedi !")
    page.click("button:has-text('Répondre')")
    expect(page.locator(".ct-status")).to_contain_text("Votre réponse est envoyée")
    expect(page.locator(".ct-msg.mine")).to_have_count(2)
    assert CONTACT not in page.content()
    page.screenshot(path=str(shots / "contact-2-conversation.png"), full_page=True)
    assert errors == [], errors


def test_holder_answers_on_the_platform_and_a_moderator_hides(site, browser, shots):  # noqa: F811
    from playwright.sync_api import expect

    new_page, errors = browser
    visitor = new_page()
    login(visitor, "visiteur@exemple.org")
    visitor.goto("/contact/projet/epicerie-lyon")
    expect(visitor.locator("#f-name")).to_have_count(0)  # the account's name and address are used
    visitor.fill("#f-body", "Vos produits sont une honte, espèce de voleurs " + BODY)
    visitor.click("button:has-text('Envoyer le message')")
    expect(visitor.locator("h1")).to_have_text("Message envoyé")
    wait_mail(site["mailbox"], "porteuse@exemple.org", "Message à propos")

    holder = new_page()
    login(holder, "porteuse@exemple.org")
    holder.goto("/messages")
    expect(holder.locator(".ct-table tbody tr")).to_have_count(1)
    expect(holder.locator(".ct-table")).to_contain_text("Visiteur Connecté")
    holder.locator(".ct-table a").first.click()
    expect(holder.locator("h1")).to_contain_text("Épicerie solidaire de la Croix-Rousse")
    holder.fill("#f-body", "Bonjour, restons courtois.")
    holder.click("button:has-text('Répondre')")
    expect(holder.locator(".ct-status")).to_contain_text("Votre réponse est envoyée")
    wait_mail(site["mailbox"], "visiteur@exemple.org", "Re:")
    holder.locator(".ct-msg.theirs details summary").click()
    holder.fill(".ct-msg.theirs input[name=reason]", "insultes")
    holder.click("button:has-text('Signaler à la modération')")
    expect(holder.locator(".ct-status")).to_contain_text("Message signalé")
    holder.screenshot(path=str(shots / "contact-3-holder.png"), full_page=True)

    moderator = new_page()
    login(moderator, "modo@exemple.org")
    moderator.goto("/moderation/messages")
    expect(moderator.locator(".ct-table")).to_contain_text("insultes")
    moderator.click("button:has-text('Masquer')")
    expect(moderator.locator(".ct-status")).to_contain_text("C'est fait")
    expect(moderator.locator(".ct-table")).to_contain_text("masqué")
    moderator.screenshot(path=str(shots / "contact-4-moderation.png"), full_page=True)

    holder.reload()
    expect(holder.locator(".ct-hidden")).to_have_text("Message masqué par la modération.")
    assert not re.search("voleurs", holder.content())
    assert errors == [], errors
