"""Onboarding partner sites nobody had seen: the fixture sites of both splits (dev, and the frozen
test split) crawled by the real crawler (local HTTP server, migrated PostgreSQL for its state)
and graded field by field (tests/fixtures/onboarding/grade.py). Prints both splits' figures."""

from __future__ import annotations

import pytest

from services.crawler.adapters.http import PoliteClient
from services.crawler.adapters.store import CrawlStore
from services.crawler.config import load_partners
from services.crawler.handlers import crawl_partner
from tests.fixtures.onboarding.grade import SPLITS, grade, serve_split, truth
from tests.helpers_partners import mirror


class Recorder:
    def __init__(self):
        self.upserts, self.deletes, self.rejects, self.statuses = [], [], [], []

    async def upsert(self, record, crawl) -> None:
        self.upserts.append(record)

    async def status(self, event) -> None:
        self.statuses.append(event)

    async def delete(self, source, record_id) -> None:
        self.deletes.append((source, record_id))

    async def reject(self, source, raw, reason, record_id, error_type) -> None:
        self.rejects.append((source, reason, error_type))


async def crawl_split(split: str, tmp_path, engine):
    server, partners_path = serve_split(split, tmp_path)
    cfg = load_partners(partners_path)
    client = PoliteClient(cfg.user_agent, backoff_s=0.05, max_retry_after_s=2)
    store = CrawlStore(engine)
    await store.sync_partners(cfg.partners)
    crawled, stats = {}, {}
    try:
        for p in cfg.partners:
            rec = Recorder()
            st = await crawl_partner(p, client, store, rec)
            crawled[p.slug] = (rec.upserts, st.outcomes)
            stats[p.slug] = st
    finally:
        await client.close()
        server.close()
    return crawled, stats, server


@pytest.mark.parametrize("split", SPLITS)
async def test_onboarding_sites_graded_field_by_field(split, tmp_path, engine) -> None:
    crawled, stats, server = await crawl_split(split, tmp_path, engine)
    fig = grade(split, crawled)
    print(f"\n{fig.line()}")
    for problem in fig.problems:
        print(f"    {problem}")
    # every item accounted for: the run's counts add up and every set-aside item has its rule
    for slug, st in stats.items():
        assert st.items == st.projects + st.excluded + st.rejected, (slug, st)
        set_aside = sum(n for rule, n in st.by_rule.items() if not rule.startswith("emitted:"))
        assert set_aside == st.excluded + st.rejected, (slug, st.by_rule)
    assert fig.unaccounted == 0
    for prefix in truth(split).get("never_fetched", []):
        assert not [p for p in server.paths() if p.startswith(prefix)], prefix
    assert fig.emitted / fig.projects >= 0.98, fig.line()
    assert fig.non_projects_emitted == 0, fig.line()
    assert fig.set_aside_right == fig.non_projects, fig.line()
    assert fig.stage_right / fig.emitted >= 0.95 and fig.commune_right / fig.emitted >= 0.95, fig.line()
    assert fig.themes_right / fig.themes_graded >= 0.95, fig.line()
    assert fig.text_places_right / fig.text_places >= 0.9 and fig.text_places_wrong == 0, fig.line()


async def test_run_counts_rules_and_first_reasons_are_stored_and_served(tmp_path, engine, stack) -> None:
    from litestar.testing import AsyncTestClient

    from services.gateway.app import create_app
    from services.gateway.settings import GatewaySettings

    server, partners_path = serve_split("dev", tmp_path)
    cfg = load_partners(partners_path)
    client = PoliteClient(cfg.user_agent)
    store = CrawlStore(engine)
    await store.sync_partners(cfg.partners)
    by_slug = {p.slug: p for p in cfg.partners}
    recorder = Recorder()
    try:
        # the CSV export without URL column: 5 rows, 3 projects, 1 too short, 1 without title (1/5 rejected)
        await crawl_partner(by_slug["dv-open"], client, store, recorder)
        lenient = by_slug["dv-open"].model_copy(update={"max_reject_share": 0.5})
        await crawl_partner(lenient, client, store, recorder, full=True)
    finally:
        await client.close()
        server.close()
    # each run told the platform its outcome (crawl.partners.v1); the gateway stores what it receives
    assert [e.run.status for e in recorder.statuses] == ["degraded", "ok"]
    assert [e.records for e in recorder.statuses] == [3, 3]
    await mirror(engine, recorder.statuses)
    app = create_app(GatewaySettings(database_url=engine.url.render_as_string(hide_password=False),
                              kafka_bootstrap=stack.bootstrap))
    async with AsyncTestClient(app=app) as api:
        runs = (await api.get("/api/v1/partners/dv-open/runs")).json()["runs"]
    assert [r["status"] for r in runs] == ["ok", "degraded"]  # newest first; 20 % rejected > 10 % by default
    first = runs[1]
    assert {k: first["counts"][k] for k in ("items", "projects", "excluded", "rejected", "new")} == \
        {"items": 5, "projects": 3, "excluded": 1, "rejected": 1, "new": 3}
    assert first["by_rule"] == {"skipped:too_short": 1, "rejected:invalid": 1}
    assert len(first["first_reasons"]) == 2
    assert any("A3" in r and "too_short" in r for r in first["first_reasons"])
    assert any("A4" in r and "title" in r for r in first["first_reasons"])


async def test_link_crawl_is_order_independent_and_bounded_and_filters_apply(tmp_path, engine) -> None:
    server, partners_path = serve_split("dev", tmp_path)
    cfg = load_partners(partners_path)
    by_slug = {p.slug: p for p in cfg.partners}
    client = PoliteClient(cfg.user_agent)
    store = CrawlStore(engine)

    async def run(slug, **options):
        p = by_slug[slug]
        p = p.model_copy(update={"options": p.options.model_copy(update=options)})
        server.reset_log()
        rec = Recorder()
        st = await crawl_partner(p, client, store, rec, full=True)
        return st, rec, sorted(server.paths())

    try:
        site = by_slug["dv-site"].options
        _, a, paths_a = await run("dv-site", start_urls=list(site.start_urls))
        _, b, paths_b = await run("dv-site", start_urls=list(reversed(site.start_urls)))
        assert paths_a == paths_b and {r.title for r in a.upserts} == {r.title for r in b.upserts} == {
            "Bonnac (15) : une mutuelle communale", "Chauffeurs solidaires"}
        _, shallow, paths = await run("dv-site", start_urls=[f"{server.base}/site/"], max_depth=0)
        assert [p for p in paths if p != "/robots.txt"] == ["/site/"] and shallow.upserts == []
        # URL patterns on any connector: an excluded page is not fetched, and is counted
        st, rec, paths = await run("dv-repertoire", exclude=["/maison-sante"])
        assert "/repertoire/projets/maison-sante.html" not in paths
        assert st.by_rule.get("skipped:url_pattern") == 1 and len(rec.upserts) == 1
        # WordPress categories: include / exclude, by name or slug
        st, rec, _ = await run("dv-blog", categories_exclude=["numérique"])
        assert "Un fablab rural pour réparer et apprendre" not in {r.title for r in rec.upserts}
        assert st.by_rule.get("skipped:category") == 1
        st, rec, _ = await run("dv-blog", categories_include=["alimentation"])
        assert {r.title for r in rec.upserts} == {"Une ferme urbaine sur les toits"}
        # feed categories are kept when the item pages are followed
        st, rec, _ = await run("dv-rss")
        laverie = next(r for r in rec.upserts if r.title == "Laverie solidaire")
        assert {"Solidarité", "Santé"} <= set(laverie.themes)
    finally:
        await client.close()
        server.close()
