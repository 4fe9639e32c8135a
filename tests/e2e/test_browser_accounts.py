"""The accounts pages in a real headless browser (Playwright driving Debian's chromium): sign up,
confirm the address from the e-mail, log in and out through the menu, reset a forgotten password,
and, as the operator created by the `make up` command, create a partner organisation, attach the
new account, issue an API key (shown once) and revoke it. No console error (a CSP violation would
be one). Screenshots under ``.run/screenshots/`` (or ``$SCREENSHOT_DIR``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.e2e.browser_support import browser_pages, gateway_site, wait_mail
from tests.e2e.test_browser import shots  # noqa: F401 — the shared screenshot dir
from tests.helpers_accounts import link_in
from tools.devstack import ROOT

pytestmark = pytest.mark.e2e
PASSWORD = "une phrase de passe solide"
NEW_PASSWORD = "une autre phrase bien longue"
EXPECTED_400 = "the server responded with a status of 400"
OPERATOR = ("operateur@example.org", "clef du phare breton")


async def _seed(engine):
    url = engine.url.render_as_string(hide_password=False)
    out = subprocess.run([sys.executable, "-m", "services.gateway.cli", "create-operator", "--email", OPERATOR[0],
                          "--password", OPERATOR[1]], env={**os.environ, "DATABASE_URL": url}, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert f"operator account: {OPERATOR[0]}" in out.stdout


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    for s in gateway_site(stack, tmp_path_factory, "browser_acc", _seed):
        yield s["base"], s["chromium"], s["mailbox"]


@pytest.fixture
def page(site):
    base, chromium, _ = site
    # a refused form answers 400 on purpose (errors next to the fields): chromium logs that, it's expected
    with browser_pages({"base": base, "chromium": chromium}, ignore=(EXPECTED_400,)) as (new_page, errors):
        pg = new_page()
        pg.errors = errors
        yield pg


def _login(page, email, password):
    page.goto("/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def test_signup_verify_login_reset(page, site, shots):  # noqa: F811
    from playwright.sync_api import expect

    _, _, mailbox = site
    page.goto("/")
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Connexion").click()
    page.get_by_role("link", name="Créer un compte").click()
    expect(page.locator("h1")).to_have_text("Créer un compte")
    page.get_by_label("Adresse e-mail").fill("camille@example.org")
    page.get_by_label("Nom affiché (facultatif)").fill("Camille")
    page.get_by_label("Mot de passe", exact=True).fill("court")
    page.get_by_label("Confirmez le mot de passe").fill("court")
    page.get_by_role("button", name="Créer mon compte").click()
    error = page.locator("#e-password")
    expect(error).to_contain_text("au moins 12 caractères")
    expect(page.get_by_label("Mot de passe", exact=True)).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=str(shots / "accounts-1-signup-error.png"), full_page=True)
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Confirmez le mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.locator("h1")).to_have_text("Vérifiez votre messagerie")

    link = link_in(wait_mail(mailbox, "camille@example.org", "Confirmez"), "/verification")
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Adresse confirmée")

    page.goto("/compte")  # needs a login: back here after it
    expect(page).to_have_url(re.compile(r"/connexion\?next=%2Fcompte$"))
    page.get_by_label("Adresse e-mail").fill("camille@example.org")
    page.get_by_label("Mot de passe").fill("mauvais mot de passe")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#e-password")).to_contain_text("incorrect")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Mon compte")
    expect(page.locator(".acc-facts")).to_contain_text("confirmée")
    expect(page.locator(".acc-facts")).to_contain_text("porteur de projet")
    page.get_by_role("textbox", name="Nom affiché").fill("Camille D.")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator(".acc-status")).to_contain_text("Nom affiché enregistré")
    page.screenshot(path=str(shots / "accounts-2-mon-compte.png"), full_page=True)

    nav = page.get_by_role("navigation", name="Menu principal")
    expect(nav.get_by_role("link", name="Partenaires")).to_have_count(0)
    nav.get_by_role("button", name="Déconnexion").click()
    expect(nav.get_by_role("link", name="Connexion")).to_be_visible()

    # forgotten password
    page.goto("/connexion")
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    page.get_by_label("Adresse e-mail").fill("camille@example.org")
    page.get_by_role("button", name="Envoyer le lien").click()
    expect(page.locator("[role=status]")).to_contain_text("Si un compte existe")
    page.goto(link_in(wait_mail(mailbox, "camille@example.org", "Réinitialiser"), "/reinitialisation"))
    page.get_by_label("Nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirmez le mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("h1")).to_have_text("Mot de passe changé")
    _login(page, "camille@example.org", NEW_PASSWORD)
    expect(page.locator("h1")).to_have_text("Mon compte")
    assert page.errors == [], page.errors


def test_operator_manages_a_partner(page, site, shots):  # noqa: F811
    from playwright.sync_api import expect

    _login(page, *OPERATOR)
    expect(page.locator("h1")).to_have_text("Mon compte")
    nav = page.get_by_role("navigation", name="Menu principal")
    expect(nav.get_by_role("link", name="Modération")).to_be_visible()
    nav.get_by_role("link", name="Partenaires").click()
    expect(page.locator("h1")).to_have_text("Organisations partenaires")
    page.get_by_label("Identifiant de la source").fill("tiers-lieux-nord")
    page.get_by_label("Nom de l'organisation").fill("Tiers-lieux du Nord")
    page.get_by_role("button", name="Créer l'organisation").click()
    expect(page.locator("h1")).to_contain_text("Tiers-lieux du Nord")

    page.get_by_label("Rattacher un compte existant (adresse e-mail)").fill("camille@example.org")
    page.get_by_role("button", name="Rattacher").click()
    expect(page.locator(".acc-status")).to_contain_text("Utilisateur rattaché")
    expect(page.locator("#t-users + table")).to_contain_text("camille@example.org")

    page.get_by_label("read (lire son compte)").check()
    page.get_by_label("Libellé (facultatif)").fill("flux quotidien")
    page.get_by_role("button", name="Créer une clé").click()
    secret = page.locator("#new-key-value")
    expect(secret).to_have_text(re.compile(r"^cfr_"))
    key = secret.inner_text()
    page.screenshot(path=str(shots / "accounts-3-new-key.png"), full_page=True)
    page.goto("/operateur/partenaires/tiers-lieux-nord")  # shown once: not on the page any more
    expect(page.locator("#new-key-value")).to_have_count(0)
    expect(page.locator("#t-keys + table")).to_contain_text(key[:8])
    assert key not in page.content()
    page.get_by_role("button", name=f"Révoquer la clé {key[:8]}").click()
    expect(page.locator(".acc-status")).to_contain_text("Clé révoquée")
    expect(page.locator("#t-keys + table")).to_contain_text("révoquée le")

    page.get_by_role("link", name="← Organisations partenaires").click()
    page.get_by_role("link", name="Gérer les modérateurs").click()
    page.get_by_label("Accorder le rôle à un compte existant (adresse e-mail)").fill("camille@example.org")
    page.get_by_role("button", name="Accorder").click()
    expect(page.locator(".acc-status")).to_contain_text("Rôle de modérateur accordé")
    page.screenshot(path=str(shots / "accounts-4-moderators.png"), full_page=True)
    assert page.errors == [], page.errors
