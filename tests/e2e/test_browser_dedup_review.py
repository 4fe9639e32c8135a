"""The deduplication review queue in a real browser (Playwright driving Debian's chromium), with
the real broker and an indexer process on a fresh database: partner records in the grey zone wait
unmerged on /moderation/doublons, side by side with the explanation; "Même projet" merges them
into one project (through the override event and the indexer); "Projets différents" keeps them
apart, also after the partners publish the records again so alike that they score as a sure match. No console error. Screenshot under
``.run/screenshots/``."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from libs.contracts.events import Contact, Location, NormalizedProject, Operation, ProjectGeocoded
from libs.contracts.topics import PROJECTS_GEOCODED
from tests.conftest import print_log_tails
from tests.e2e.browser_support import browser_pages, gateway_site, login, query_db
from tests.e2e.test_browser import shots  # noqa: F401 — the screenshot folder
from tests.helpers_accounts import create_user
from tools.devstack import start_service, stop_process

pytestmark = pytest.mark.e2e
TULLE = Location(commune_code="19272", commune_name="Tulle", postcode="19000", departement_code="19",
                 lat=45.27317, lon=1.76309, precision="commune")
RUN = uuid.uuid4().hex[:6]
NAMES = {"same": f"La Bobine {RUN}", "apart": f"Le Sillon {RUN}"}


def _event(source: str, rid: str, title: str, description: str) -> ProjectGeocoded:
    project = NormalizedProject(source=source, source_record_id=rid, url=f"https://{source}.example.org/{rid}",
                                title=title, description=description, content_hash=uuid.uuid4().hex)
    return ProjectGeocoded(op=Operation.UPSERT, source=source, source_record_id=rid, project=project, location=TULLE)


EVENTS = {
    "same": (_event("avise", f"r1-{RUN}", NAMES["same"], "Un atelier de couture ouvert à tous."),
             _event("cerdd", f"r2-{RUN}", f"Recyclerie {NAMES['same']}", "Couture et réemploi pour les habitants.")),
    "apart": (_event("avise", f"r3-{RUN}", NAMES["apart"], "Des jardins cultivés en commun."),
              _event("cerdd", f"r4-{RUN}", f"Ferme urbaine {NAMES['apart']}", "Une ferme en ville, des paniers.")),
}


async def _send(bootstrap: str, events) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(PROJECTS_GEOCODED, e.model_dump_json().encode(), key=e.key.encode())
    finally:
        await producer.stop()


async def _seed(engine) -> None:
    await create_user(engine, "moderatrice@exemple.org", roles=("moderator",))


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    yield from gateway_site(stack, tmp_path_factory, "browserdedup", _seed)


def _wait(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _projects(url: str, keys: list[str]) -> dict[str, str]:
    return dict(query_db(url, "SELECT record_key, canonical_id FROM dedup_records WHERE record_key = ANY(:k)", k=keys))


def test_review_same_merges_and_not_same_survives_a_replay(stack, site, tmp_path, shots):  # noqa: F811
    from playwright.sync_api import expect

    url = site["url"]
    indexer = start_service("indexer", stack.service_env(DATABASE_URL=url, LOG_LEVEL="INFO"), tmp_path)
    keys = {k: [e.key for e in evs] for k, evs in EVENTS.items()}
    try:
        asyncio.run(_send(stack.bootstrap, [*EVENTS["same"], *EVENTS["apart"]]))
        _wait("the grey pairs scored by the indexer", lambda: len(query_db(
            url, "SELECT 1 FROM dedup_matches WHERE explanation @> '{\"review\": true}' AND record_a = ANY(:k)",
            k=keys["same"] + keys["apart"])) == 2)
        for pair in keys.values():
            assert len(set(_projects(url, pair).values())) == 2, "nothing in the grey zone is merged"

        with browser_pages(site, width=1280) as (new_page, errors):
            page = new_page()
            login(page, "moderatrice@exemple.org")
            page.goto("/moderation")
            page.click("text=Doublons à examiner")
            expect(page.locator("h1")).to_have_text("Doublons à examiner")
            same = page.locator(f"article[data-record-a='{keys['same'][0]}']")
            apart = page.locator(f"article[data-record-a='{keys['apart'][0]}']")
            expect(same).to_be_visible()
            expect(apart).to_be_visible()
            expect(same.locator("td", has_text=f"Recyclerie {NAMES['same']}")).to_be_visible()
            expect(same.locator(".dd-why")).to_contain_text("Titre : l'un contient l'autre")
            expect(same.locator(".dd-why")).to_contain_text("Lieu : même commune")
            page.screenshot(path=str(shots / "dedup-review.png"), full_page=True)

            same.locator("button", has_text="Même projet").click()
            expect(page.locator(".cl-ok")).to_contain_text("même projet")
            expect(page.locator(f"article[data-record-a='{keys['same'][0]}']")).to_have_count(0)
            _wait("the merge by the indexer", lambda: len(set(_projects(url, keys["same"]).values())) == 1)
            [cid] = set(_projects(url, keys["same"]).values())
            _wait("the merged project in the search index", lambda: query_db(
                url, "SELECT 1 FROM search_documents WHERE id = :c AND NOT deleted "
                     "AND jsonb_array_length(doc->'project'->'sources') = 2", c=cid))
            page.goto(f"/projets/{cid}")
            expect(page.locator("h1")).to_contain_text(NAMES["same"])

            page.goto("/moderation/doublons")
            page.locator(f"article[data-record-a='{keys['apart'][0]}'] button", has_text="Projets différents").click()
            expect(page.locator(".cl-ok")).to_contain_text("projets différents")
            expect(page.locator(f"article[data-record-a='{keys['apart'][0]}']")).to_have_count(0)
            assert not errors, errors

        # the partners publish the pair again, now looking like one project (same title, same
        # e-mail: scored a sure match): the moderator's "not the same" still keeps them apart
        mail = Contact(email=f"contact-{RUN}@sillon.example.org")
        again = [e.model_copy(update={"project": e.project.model_copy(update={
            "title": NAMES["apart"], "contact": mail, "content_hash": uuid.uuid4().hex})}) for e in EVENTS["apart"]]
        asyncio.run(_send(stack.bootstrap, again))
        pair = dict(a=min(keys["apart"]), b=max(keys["apart"]))
        _wait("the republished pair re-scored by the indexer", lambda: query_db(
            url, "SELECT 1 FROM dedup_matches WHERE record_a = :a AND record_b = :b AND matched", **pair))
        time.sleep(1.0)
        assert len(set(_projects(url, keys["apart"]).values())) == 2
        with browser_pages(site) as (new_page, errors):
            page = new_page()
            login(page, "moderatrice@exemple.org")
            page.goto("/moderation/doublons")
            expect(page.locator("h1")).to_have_text("Doublons à examiner")
            expect(page.locator(f"article[data-record-a='{keys['apart'][0]}']")).to_have_count(0)
            assert not errors, errors
    except BaseException:
        print_log_tails(tmp_path, ["indexer"], lines=40)
        raise
    finally:
        stop_process(indexer)
