"""Integration: the crawler against the fixture partner sites (local HTTP server) and a real
migrated PostgreSQL database for its state. Events are captured at the emitter boundary; the
end-to-end test (tests/e2e/test_crawl_e2e.py) covers the broker and the search index."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import text

from services.crawler.adapters.http import PoliteClient
from services.crawler.adapters.store import CrawlStore
from services.crawler.config import load_partners
from services.crawler.handlers import crawl_partner
from tests.fixtures.crawler.sites_fixture import partners_file

EXPECTED = {"fx-json": 2, "fx-csv": 2, "fx-sitemap": 4, "fx-schemaorg": 3, "fx-feed": 2, "fx-wordpress": 3,
            "fx-html": 4, "fx-flaky": 1}
DISALLOWED = ("/sitemap/prive/", "/html/brouillons/", "/schemaorg/fiches/interne")


class Recorder:
    def __init__(self):
        self.upserts, self.deletes, self.rejects = [], [], []

    async def upsert(self, record, crawl) -> None:
        self.upserts.append((record, crawl))

    async def delete(self, source, record_id) -> None:
        self.deletes.append((source, record_id))

    async def reject(self, source, raw, reason, record_id, error_type) -> None:
        self.rejects.append((source, reason, error_type))

    def ids(self, source: str) -> set[str]:
        return {r.source_record_id for r, _ in self.upserts if r.source == source}


@pytest.fixture
async def crawler(site, tmp_path, engine):
    cfg = load_partners(partners_file(tmp_path, site))
    client = PoliteClient(cfg.user_agent, backoff_s=0.05, max_retry_after_s=2)
    store = CrawlStore(engine)
    await store.sync_partners(cfg.partners)
    partners = {p.slug: p for p in cfg.partners}

    async def crawl(slug: str, **changes):
        rec = Recorder()
        stats = await crawl_partner(partners[slug].model_copy(update=changes), client, store, rec)
        return stats, rec

    crawl.partners, crawl.engine, crawl.user_agent = partners, engine, cfg.user_agent
    yield crawl
    await client.close()


async def test_every_shape_harvested_then_recrawl_answers_304_and_emits_nothing(crawler, site) -> None:
    first = {}
    for slug, expected in EXPECTED.items():
        stats, rec = await crawler(slug)
        first[slug] = (stats, rec)
        assert stats.new == expected == len(rec.upserts), (slug, stats)
        assert stats.complete and rec.deletes == [], (slug, stats)
    # the bad record of the JSON export is dead-lettered with its reason; the rest is kept
    assert first["fx-json"][1].rejects == [("fx-json", first["fx-json"][1].rejects[0][1], "rejected")]
    assert "fxj-3" in first["fx-json"][1].rejects[0][1] and "http or https" in first["fx-json"][1].rejects[0][1]
    # 500 then success: retried, harvested
    assert first["fx-flaky"][0].errors == 0 and [r.title for r, _ in first["fx-flaky"][1].upserts] == [
        "Projet servi après une erreur 500"]
    assert first["fx-sitemap"][1].ids("fx-sitemap") == {"/sitemap/projets/jardin-lilas.html", "cyclofix",
                                                        "/sitemap/projets/ressourcerie.html",
                                                        "/sitemap/projets/tiers-lieu.html"}
    for _slug, (_stats, rec) in first.items():
        for _record, crawl in rec.upserts:
            assert crawl.fetched_url.startswith(site.base) and len(crawl.content_hash) == 64

    site.reset_log()
    for slug in EXPECTED:
        stats, rec = await crawler(slug)
        assert (stats.new, stats.updated, stats.deleted, stats.rejected) == (0, 0, 0, 0), (slug, stats)
        assert rec.upserts == [] and rec.deletes == [] and rec.rejects == [], slug
    statuses = Counter(h.status for h in site.log)
    ratio = statuses[304] / len(site.log)
    print(f"recrawl of the unchanged fixture sites: {len(site.log)} requests, {statuses[304]} answered 304 "
          f"({ratio:.0%}); statuses {dict(statuses)}")
    assert ratio >= 0.9
    assert all(h.conditional for h in site.log)


async def test_robots_txt_disallowed_urls_are_never_requested(crawler, site) -> None:
    for slug in EXPECTED:
        await crawler(slug)
        await crawler(slug)
    paths = site.paths()
    assert not [p for p in paths if p.startswith(DISALLOWED)], "a robots.txt-disallowed URL was requested"
    assert {h.user_agent for h in site.log} == {crawler.user_agent}
    # robots.txt itself is read (and revalidated), before anything else of the site
    assert paths[0] == "/robots.txt" and "/robots.txt" in paths[1:]


async def test_changes_updates_and_deletions(crawler, site) -> None:
    for slug in ("fx-html", "fx-sitemap", "fx-json"):
        await crawler(slug)
    root = site.root
    # a detail page removed while the listing still links to it: 404 → deletion at once
    (root / "html/fiches/boutique-retiree.html").unlink()
    # a changed page: one update, nothing else
    page = root / "html/fiches/ludotheque.html"
    page.write_text(page.read_text().replace("Ludothèque itinérante", "Ludothèque nomade"))
    stats, rec = await crawler("fx-html")
    assert rec.deletes == [("fx-html", "/html/fiches/boutique-retiree.html")]
    assert [r.title for r, _ in rec.upserts] == ["Ludothèque nomade du Vercors"]
    assert (stats.updated, stats.new, stats.deleted) == (1, 0, 1)

    # a page gone from the sitemap (and the site): deleted after delete_after_missing complete crawls
    smap = root / "sitemap/sitemap-projets.xml"
    smap.write_text("\n".join(l for l in smap.read_text().splitlines() if "atelier-velo" not in l))
    (root / "sitemap/projets/atelier-velo.html").unlink()
    stats, rec = await crawler("fx-sitemap", delete_after_missing=2)
    assert rec.deletes == [] and stats.complete
    stats, rec = await crawler("fx-sitemap", delete_after_missing=2)
    assert rec.deletes == [("fx-sitemap", "cyclofix")]
    assert not [p for p in site.paths() if "atelier-velo" in p][1:], "a page gone from the sitemap is not fetched"

    # a record gone from a complete export: deleted (delete_after_missing: 1 for the fixtures)
    export = root / "json/projets.json"
    export.write_text(export.read_text().replace('"fxj-2"', '"fxj-2b"'))
    stats, rec = await crawler("fx-json")
    assert rec.deletes == [("fx-json", "fxj-2")] and rec.ids("fx-json") == {"fxj-2b"}

    async with crawler.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT record_id, deleted FROM crawl_records WHERE partner = 'fx-json' ORDER BY record_id"))).all()
    assert [tuple(r) for r in rows] == [("fxj-1", False), ("fxj-2", True), ("fxj-2b", False)]


async def test_an_incomplete_crawl_never_deletes(crawler, site) -> None:
    await crawler("fx-html")
    (site.root / "html/liste-2.html").unlink()  # the second listing page fails: listing incomplete
    stats, rec = await crawler("fx-html")
    assert not stats.complete and stats.errors == 1 and rec.deletes == []
    async with crawler.engine.connect() as conn:
        live = (await conn.execute(text(
            "SELECT count(*) FROM crawl_records WHERE partner = 'fx-html' AND NOT deleted"))).scalar_one()
    assert live == 4


async def test_crawl_runs_are_recorded(crawler) -> None:
    await crawler("fx-wordpress")
    await crawler("fx-wordpress")
    async with crawler.engine.connect() as conn:
        runs = (await conn.execute(text(
            "SELECT status, complete, requests, fetched, not_modified, new, updated, deleted, errors, finished_at "
            "FROM crawl_runs WHERE partner = 'fx-wordpress' ORDER BY id"))).mappings().all()
        partners = (await conn.execute(text("SELECT slug, connector FROM crawl_partners ORDER BY slug"))).all()
    assert [(r["status"], r["complete"], r["new"], r["errors"]) for r in runs] == [("ok", True, 3, 0), ("ok", True, 0, 0)]
    assert runs[0]["fetched"] == 3 and runs[1]["not_modified"] == 3 and runs[1]["requests"] == 3
    assert all(r["finished_at"] is not None for r in runs)
    assert ("fx-wordpress", "wordpress") in [tuple(p) for p in partners] and len(partners) == len(EXPECTED)


async def test_private_addresses_refused_without_the_partner_allowance(crawler, site) -> None:
    stats, rec = await crawler("fx-json", allow_private_addresses=False)
    assert rec.upserts == [] and stats.errors == 1 and not stats.complete
    assert "non-public address 127.0.0.1" in stats.error_samples[0]
    assert site.paths() == [], "nothing may be requested from a refused address"


async def test_throttled_429_honours_retry_after(crawler, site) -> None:
    started = time.monotonic()
    stats, rec = await crawler("fx-flaky", options=crawler.partners["fx-flaky"].options.model_copy(
        update={"url": f"{site.base}/special/throttled.json"}))
    assert time.monotonic() - started >= 1.0, "Retry-After: 1 was not honoured"
    assert [r.source_record_id for r, _ in rec.upserts] == ["fxs-2"] and stats.requests == 3  # robots, 429, 200


async def test_full_recrawl_reemits_everything_and_metrics_count(crawler, site) -> None:
    from prometheus_client import REGISTRY

    def metric(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = metric("carrefour_crawler_records_total", partner="fx-csv", change="new")
    await crawler("fx-csv")
    assert metric("carrefour_crawler_records_total", partner="fx-csv", change="new") == before + 2
    site.reset_log()
    rec = Recorder()
    client = PoliteClient(crawler.user_agent)
    try:
        stats = await crawl_partner(crawler.partners["fx-csv"], client, CrawlStore(crawler.engine), rec, full=True)
    finally:
        await client.close()
    assert (stats.updated, stats.new, stats.deleted) == (2, 0, 0) and len(rec.upserts) == 2
    assert [h.conditional for h in site.log if h.path == "/csv/projets.csv"] == [False]
    assert metric("carrefour_crawler_runs_total", partner="fx-csv", status="ok") >= 2


async def test_a_parser_failure_on_one_page_does_not_stop_the_crawl(crawler, monkeypatch) -> None:
    from services.crawler.parsing import html as html_parser

    real = html_parser.detail_record

    def flaky(body, url, source, selectors):
        if url.endswith("potager-ecole.html"):
            raise RuntimeError("parser bug")
        return real(body, url, source, selectors)

    monkeypatch.setattr(html_parser, "detail_record", flaky)
    stats, rec = await crawler("fx-html")
    assert stats.new == 3 and stats.errors == 1 and "RuntimeError: parser bug" in stats.error_samples[0]
    assert [r[2] for r in rec.rejects] == ["document"]
    monkeypatch.setattr(html_parser, "detail_record", real)
    stats, rec = await crawler("fx-html")  # the failed page is read again though it did not change
    assert stats.new == 1 and stats.errors == 0
