"""What the browser tests share: a gateway of their own on a fresh database, chromium pages that
record console errors, the Maildir reader that waits, and the login form.

    @pytest.fixture(scope="module")
    def site(stack, tmp_path_factory):
        yield from gateway_site(stack, tmp_path_factory, "browserx", prepare)   # prepare(engine) seeds

    @pytest.fixture
    def browser(site):
        with browser_pages(site) as (new_page, errors):
            yield new_page, errors
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.message import EmailMessage

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import fresh_database, wait_ready
from tests.e2e.test_browser import _chromium
from tests.helpers_accounts import DEFAULT_PASSWORD, read_mailbox
from tools.devstack import free_port, start_service, stop_process


def gateway_site(stack, tmp_path_factory, prefix: str, prepare: Callable[[AsyncEngine], Awaitable[object]] | None = None,
                 **env: str) -> Iterator[dict]:
    """A generator for a module fixture: chromium found (else the test fails), a fresh database
    seeded by ``prepare(engine)``, a gateway process on a free port with its own Maildir. Yields
    ``dict(base, chromium, mailbox, inbound, url, seeded)`` (``seeded``: what ``prepare`` returned)."""
    chromium = _chromium()
    url = fresh_database(stack, prefix)

    async def seed():
        engine = create_async_engine(url)
        try:
            return await prepare(engine) if prepare else None
        finally:
            await engine.dispose()

    seeded = asyncio.run(seed())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tmp = tmp_path_factory.mktemp(prefix)
    mailbox, inbound = tmp / "mailbox", tmp / "inbound"
    proc = start_service("gateway", stack.service_env(
        DATABASE_URL=url, GATEWAY_PORT=str(port), LOG_LEVEL="WARNING", MAILBOX_DIR=str(mailbox),
        INBOUND_MAILBOX_DIR=str(inbound), PUBLIC_BASE_URL=base, **env), tmp)
    try:
        try:
            wait_ready(base, timeout=30)
        except AssertionError:
            raise AssertionError("gateway never became ready:\n" + (tmp / "gateway.log").read_text()) from None
        yield dict(base=base, chromium=chromium, mailbox=mailbox, inbound=inbound, url=url, seeded=seeded)
    finally:
        stop_process(proc)


@contextmanager
def browser_pages(site: dict, width: int = 1280, height: int = 900, ignore: tuple[str, ...] = ()):
    """``(new_page, errors)``: each ``new_page()`` is a fresh context (its own cookies, like another
    person); ``errors`` collects console errors and page exceptions of every page, except console
    errors containing one of ``ignore`` (e.g. the 400 of a form refused on purpose)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=site["chromium"], headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        errors: list[str] = []

        def new_page():
            context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR",
                                          base_url=site["base"])
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text)
                    if m.type == "error" and not any(i in m.text for i in ignore) else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            return page

        try:
            yield new_page, errors
        finally:
            browser.close()


def wait_mail(mailbox, to: str, subject: str, count: int = 1, timeout: float = 20.0) -> EmailMessage:
    """The newest message to ``to`` whose subject contains ``subject``, once ``count`` are there."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in read_mailbox(mailbox) if to in str(m["To"]) and subject in str(m["Subject"])]
        if len(found) >= count:
            return found[-1]
        assert time.monotonic() < deadline, (
            f"no mail to {to} ({subject}): {[(m['To'], m['Subject']) for m in read_mailbox(mailbox)]}")
        time.sleep(0.2)


def login(page, email: str, password: str = DEFAULT_PASSWORD) -> None:
    """Log in through the form; waits for the logged-in menu."""
    from playwright.sync_api import expect

    page.goto("/connexion")
    page.fill("#f-email", email)
    page.fill("#f-password", password)
    page.click("button:has-text('Se connecter')")
    expect(page.locator("text=Déconnexion")).to_be_visible()


def fill_post_form(page, kind: str, title: str, description: str, skill: str, project: str | None = None) -> None:
    """A new post of ``kind`` on the form, up to its first skill (not sent)."""
    page.goto("/annonces/nouvelle")
    page.check(f"input[name=kind][value={kind}]")
    if project:
        page.select_option("#f-project_id", project)
    page.fill("#f-title", title)
    page.fill("#f-description", description)
    page.check(f"input[name=skills][value={skill}]")


def publish_job_offer(page, project: str) -> None:
    """The garden's job offer (a CDD) of ``project``, published through the form."""
    from playwright.sync_api import expect

    fill_post_form(page, "job_offer", "Animateur ou animatrice de jardin",
                   "Animer les ateliers de jardinage avec les habitants du quartier.", "jardinage", project)
    expect(page.locator("#f-contract_type")).to_be_visible()
    page.select_option("#f-contract_type", "cdd")
    page.fill("#f-hours", "24 h par semaine")
    page.fill("#f-start_date", "2031-01-05")
    page.click("button:has-text('Publier')")
    expect(page.locator(".facts")).to_contain_text("CDD")


def open_post_on_map(page, title: str) -> None:
    """Reach a post's star on the map — when posts share a place their cluster is opened (zoomed
    into or spread, as a click on it does: markercluster's ``zoomToShowLayer``) — click it, then
    the link of its popup card."""
    from playwright.sync_api import expect

    star = page.locator(f"#map .post-icon[title={title!r}]")
    found = page.evaluate("""(title) => new Promise((done) => {
        const posts = document.getElementById('map').carrefourPosts;
        const marker = posts && posts.getLayers().find((m) => m.options.title === title);
        if (!marker) { done(false); return; }
        posts.zoomToShowLayer(marker, () => done(true));
    })""", title)
    assert found, f"no post {title!r} on the map"
    expect(star).to_be_visible(timeout=10_000)
    star.dispatch_event("click")
    page.locator(".leaflet-popup .map-card").get_by_role("link", name="Voir l’annonce").click()


def query_db(url: str, sql: str, **params):
    """Rows of ``sql`` on the database at ``url``, from a browser test (outside any event loop)."""

    async def run():
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(sql), params)).all()
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:  # playwright's sync API runs an event loop in this thread
        return pool.submit(asyncio.run, run()).result()
