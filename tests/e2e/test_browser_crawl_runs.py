"""The operators' crawl page in a real headless browser (Playwright driving Debian's chromium): runs
recorded by the crawler's own store (a degraded CSV crawl with its rules and first reasons, a clean
one) are listed with their status and counts, and a partner's page shows its counts by rule and the
first reasons. Anonymous visitors are sent to the login page; no console error."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from services.crawler.adapters.store import CrawlStore
from services.crawler.config import load_partners
from tests.e2e.browser_support import browser_pages, gateway_site, login
from tests.fixtures.crawler.sites_fixture import PARTNERS
from tests.helpers_accounts import create_user
from tests.helpers_partners import mirror

pytestmark = pytest.mark.e2e
OPERATOR = "operatrice@example.org"
REASON = "rejected [invalid] http://x/open/projets.csv 'A4': title: String should have at least 1 character"


async def _seed(engine):
    store = CrawlStore(engine)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "partners.yaml"
        path.write_text(PARTNERS.read_text(encoding="utf-8").replace("{BASE}", "http://127.0.0.1:9"), encoding="utf-8")
        partners = load_partners(path).partners[:2]  # fx-json, fx-csv
    await store.sync_partners(partners)
    runs = [("fx-csv", await store.start_run("fx-csv"))]
    run = runs[0][1]
    await store.finish_run(run, "degraded", {
        "complete": True, "requests": 2, "fetched": 1, "items": 5, "projects": 3, "excluded": 1, "rejected": 1,
        "new": 3, "by_rule": {"skipped:too_short": 1, "rejected:invalid": 1},
        "first_reasons": ["skipped [too_short] http://x/open/projets.csv 'A3': description of 8 characters, under 40",
                          REASON]})
    run = await store.start_run("fx-json")
    await store.finish_run(run, "ok", {"complete": True, "requests": 2, "fetched": 1, "items": 2, "projects": 2,
                                       "new": 2})
    await mirror(engine, runs=[*runs, ("fx-json", run)])  # what crawl.partners.v1 carries to the gateway
    await create_user(engine, OPERATOR, roles=("operator",))


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    yield from gateway_site(stack, tmp_path_factory, "browser_crawl", _seed)


def test_operator_sees_runs_counts_and_reasons(site) -> None:
    from playwright.sync_api import expect

    with browser_pages(site) as (new_page, errors):
        page = new_page()
        page.goto("/operateur/collecte")
        expect(page).to_have_url(re.compile(r"/connexion"))  # anonymous: to the login page
        login(page, OPERATOR)
        page.goto("/operateur/collecte")
        row = page.locator("#partners tr[data-slug='fx-csv']")
        expect(row.locator(".status")).to_have_text("dégradée")
        expect(row).to_contain_text("5")
        expect(page.locator("#partners tr[data-slug='fx-json'] .status")).to_have_text("ok")
        row.get_by_role("link").click()
        expect(page.locator("h1")).to_contain_text("Collecte")
        expect(page.locator("#runs")).to_contain_text("skipped:too_short : 1")
        expect(page.locator("#runs")).to_contain_text("rejected:invalid : 1")
        expect(page.locator("#reasons li")).to_have_count(2)
        expect(page.locator("#reasons")).to_contain_text("title: String should have at least 1 character")
        assert errors == []
