"""The operators' crawl preview in a real headless browser (Playwright driving Debian's chromium),
through the real path: the gateway publishes the request on the broker, a real crawler process
previews a local fixture site and publishes its answer, the gateway's subscriber stores it. The
operator sees « en cours », then the records with every field and where it came from and the items
set aside with their rule and reason; a configuration tried from the page changes the answer; a
configuration error is shown. Anonymous visitors go to the login page, other accounts get a 403,
a POST without the CSRF token is refused."""

from __future__ import annotations

import re

import httpx
import pytest
import yaml

from tests.e2e.browser_support import browser_pages, gateway_site, login
from tests.fixtures.onboarding.grade import serve_split
from tests.helpers_accounts import create_user
from tools.devstack import start_service, stop_process

pytestmark = pytest.mark.e2e
OPERATOR = "operateur.apercu@example.org"
HOLDER = "porteuse.apercu@example.org"
DELAY_S = 1.5
"""The configured partner's delay: a tried configuration cannot go faster, and the operator sees
« en cours » while the sample is fetched."""


async def _seed(engine):
    await create_user(engine, OPERATOR, roles=("operator",))
    await create_user(engine, HOLDER)


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("preview-sites")
    server, path = serve_split("dev", tmp)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for p in data["partners"]:  # previews only: the crawler publishes no record
        p["enabled"] = False
        p["delay_s"] = DELAY_S
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    gen = gateway_site(stack, tmp_path_factory, "browser_preview", _seed, EVENT_SUBSCRIBERS="true")
    found = next(gen)
    crawler = start_service("crawler", stack.service_env(DATABASE_URL=found["url"], CARREFOUR_PARTNERS_FILE=str(path),
                                                         LOG_LEVEL="INFO"), tmp)
    try:
        yield {**found, "partners": data, "log": tmp / "crawler.log"}
    finally:
        stop_process(crawler)
        server.close()
        gen.close()


def _ask(page, slug: str, config: str = "") -> None:
    page.goto(f"/operateur/apercus?partenaire={slug}")
    page.fill("#f-max-pages", "10")
    page.fill("#f-config", config)
    page.click("button:has-text(\"Lancer l'aperçu\")")
    page.wait_for_url(re.compile(r"/operateur/apercus/[0-9a-f]{32}$"))


def test_operator_asks_a_preview_and_sees_records_and_reasons(site) -> None:
    from playwright.sync_api import expect

    with browser_pages(site) as (new_page, errors):
        page = new_page()
        page.goto("/operateur/apercus")
        expect(page).to_have_url(re.compile(r"/connexion"))
        login(page, OPERATOR)
        page.goto("/operateur/collecte")
        page.click("#apercu")
        expect(page.locator("h1")).to_have_text("Aperçu d'une collecte")

        _ask(page, "dv-open")
        expect(page.locator("#statut")).to_contain_text("en cours")
        try:
            expect(page.locator("#counts")).to_be_visible(timeout=90_000)
        except AssertionError:
            raise AssertionError("no answer; crawler log:\n" + site["log"].read_text()[-5000:]) from None
        expect(page.locator("#statut")).not_to_contain_text("en cours")
        rennes = page.locator("table.preview-record tr[data-field='commune']", has_text="Rennes")
        expect(rennes).to_have_count(1)
        expect(rennes).to_contain_text("column 'Commune'")  # where the value came from
        expect(page.locator("table.preview-record tr[data-field='title']", has_text="Accorderie de Pau")).to_have_count(1)
        short = page.locator("#aside tr[data-rule='too_short']")
        expect(short).to_have_count(1)
        expect(short).to_contain_text("écarté")
        expect(short).to_contain_text("description of 8 characters, under 40")
        expect(page.locator("#aside tr[data-verdict='rejected']")).to_contain_text("title: String should have")
        kept = page.locator("table.preview-record").count()

        # the same partner with a configuration tried from the page: a lower minimum keeps the short row
        entry = next(p for p in site["partners"]["partners"] if p["slug"] == "dv-open")
        tried = dict(entry, record_test={"min_description_chars": 5}, delay_s=0)
        _ask(page, "dv-open", yaml.safe_dump(tried, allow_unicode=True))
        expect(page.locator("#counts")).to_be_visible(timeout=90_000)
        expect(page.locator("#aside tr[data-rule='too_short']")).to_have_count(0)
        expect(page.locator("table.preview-record")).to_have_count(kept + 1)
        expect(page.locator("#t-config")).to_be_visible()

        # a configuration with a mistake: the crawler says which field
        _ask(page, "dv-open", yaml.safe_dump(dict(entry, connector="ftp")))
        expect(page.locator("#erreur")).to_contain_text("unknown connector 'ftp'", timeout=90_000)
        expect(page.locator("#statut")).to_contain_text("impossible")

        page.goto("/operateur/apercus")
        expect(page.locator("#recent li")).to_have_count(3)
        assert errors == []

        other = new_page()  # an account without the operator role: refused (the 403 is the console's only error)
        login(other, HOLDER)
        response = other.goto("/operateur/apercus")
        assert response is not None and response.status == 403
        assert len(errors) == 1 and "403" in errors[0]


def test_a_post_without_csrf_token_is_refused(site) -> None:
    with httpx.Client(base_url=site["base"]) as client:
        r = client.post("/operateur/apercus", data={"partner": "dv-open", "max_pages": "5"})
    assert r.status_code == 403
