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


class Recorder:
    def __init__(self):
        self.upserts, self.deletes, self.rejects = [], [], []

    async def upsert(self, record, crawl) -> None:
        self.upserts.append(record)

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
        assert sum(st.by_rule.values()) == st.excluded + st.rejected, (slug, st.by_rule)
    assert fig.unaccounted == 0
    for prefix in truth(split).get("never_fetched", []):
        assert not [p for p in server.paths() if p.startswith(prefix)], prefix
    assert fig.emitted / fig.projects >= 0.98, fig.line()
    assert fig.non_projects_emitted == 0, fig.line()
    assert fig.set_aside_right == fig.non_projects, fig.line()
    assert fig.stage_right / fig.emitted >= 0.95 and fig.commune_right / fig.emitted >= 0.95, fig.line()
    assert fig.themes_right / fig.themes_graded >= 0.95, fig.line()
