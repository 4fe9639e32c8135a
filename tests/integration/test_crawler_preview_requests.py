"""Previews asked through events (the operators' web page): the crawler's answer to a
``PreviewRequested`` on the onboarding fixture sites — the configured partner, a tried
configuration, refusals (unknown partner, invalid YAML, private addresses not allowed, another
slug) — and the answer's bounds (well under the broker's message limit whatever the site holds)."""

from __future__ import annotations

import uuid

import pytest
import yaml

from libs.contracts.events import PartnerRecord
from libs.contracts.preview_events import (
    PREVIEW_MAX_BYTES,
    PreviewCompleted,
    PreviewRequested,
)
from services.crawler.adapters.http import PoliteClient
from services.crawler.config import load_partners
from services.crawler.crawl import RunStats
from services.crawler.domain import Mapped
from services.crawler.outcomes import Outcome
from services.crawler.preview import Preview, to_event
from services.crawler.preview_requests import answer, partner_for
from tests.fixtures.onboarding.grade import serve_split, truth


def _request(partner: str, config: str | None = None, max_pages: int = 30) -> PreviewRequested:
    return PreviewRequested(request_id=uuid.uuid4().hex, partner=partner, config_yaml=config, max_pages=max_pages)


@pytest.fixture
def dev(tmp_path):
    server, path = serve_split("dev", tmp_path)
    client = PoliteClient("CarrefourBot/0.1")
    try:
        yield server, load_partners(path), client
    finally:
        server.close()


async def test_configured_partner_records_with_sources_and_reasons(dev) -> None:
    server, configured, client = dev
    try:
        done = await answer(_request("dv-open"), configured, client)
    finally:
        await client.close()
    PreviewCompleted.model_validate_json(done.model_dump_json())  # what goes on the topic parses back
    assert done.status in ("ok", "degraded") and done.error is None
    titles = {f.value for r in done.records for f in r.fields if f.name == "title"}
    assert {p["title"] for p in truth("dev")["projects"] if p["partner"] == "dv-open"} <= titles
    communes = {(f.value, f.source) for r in done.records for f in r.fields if f.name == "commune"}
    assert ("Rennes", "column 'Commune'") in communes
    rules = {(i.verdict, i.rule) for i in done.set_aside}
    assert ("skipped", "too_short") in rules and ("rejected", "invalid") in rules
    assert all(i.reason for i in done.set_aside)
    assert done.counts["items"] == done.counts["projects"] + done.counts["excluded"] + done.counts["rejected"]


async def test_tried_configuration_is_previewed_instead_of_the_configured_one(dev) -> None:
    server, configured, client = dev
    entry = next(p for p in configured.partners if p.slug == "dv-open").model_dump(mode="json", exclude_none=True)
    entry["options"]["fields"].pop("commune")  # a config under test without the commune column
    entry["options"]["fields"]["commune"] = "Ville inexistante"
    try:
        done = await answer(_request("dv-open", yaml.safe_dump(entry, allow_unicode=True)), configured, client)
    finally:
        await client.close()
    assert done.records, done
    assert not any(f.name == "commune" for r in done.records for f in r.fields)


async def test_refusals_are_answered_with_the_reason(dev) -> None:
    server, configured, client = dev
    entry = next(p for p in configured.partners if p.slug == "dv-open").model_dump(mode="json", exclude_none=True)
    other = dict(entry, slug="nouveau-site")
    server.reset_log()
    try:
        cases = {
            "inconnu": await answer(_request("nouveau-site"), configured, client),
            "YAML": await answer(_request("dv-open", "slug: [oops"), configured, client),
            "allow_private_addresses": await answer(_request("nouveau-site", yaml.safe_dump(other)), configured, client),
            "pas 'dv-blog'": await answer(_request("dv-blog", yaml.safe_dump(entry)), configured, client),
            "options": await answer(_request("dv-open", yaml.safe_dump(dict(entry, options={}))), configured, client),
        }
    finally:
        await client.close()
    for words, done in cases.items():
        assert done.status == "error" and words in done.error, (words, done.error)
        assert not done.records
    assert server.log == []  # nothing was fetched for a refused request


def test_a_tried_configuration_is_never_faster_than_the_configured_one(tmp_path) -> None:
    server, path = serve_split("dev", tmp_path)
    server.close()
    configured = load_partners(path)
    entry = next(p for p in configured.partners if p.slug == "dv-open").model_dump(mode="json", exclude_none=True)
    slow = configured.model_copy(update={"partners": [p.model_copy(update={"delay_s": 2.5}) if p.slug == "dv-open"
                                                      else p for p in configured.partners]})
    assert partner_for(_request("dv-open", yaml.safe_dump(dict(entry, delay_s=0))), slow).delay_s == 2.5
    public = dict(entry, slug="tout-neuf", allow_private_addresses=False)
    assert partner_for(_request("tout-neuf", yaml.safe_dump(public)), configured).delay_s == 1.0


def test_answer_stays_bounded_whatever_the_site_holds() -> None:
    huge = "é" * 20_000
    records = [Mapped(raw=None, record=PartnerRecord(
        source="big", source_record_id=f"r{i}", url=f"https://big.example/{i}", title="t" * 300, description=huge,
        address="a" * 300, themes=["x" * 100] * 30), sources={"description": "s" * 500}) for i in range(500)]
    aside = [Outcome(url="https://big.example/" + "p" * 2000, verdict="skipped", rule="news", reason=huge, title=huge)
             for _ in range(5000)]
    stats = RunStats("big", items=5500, projects=500, excluded=5000, error_samples=[huge] * 50)
    event = to_event(Preview("big", "ok", stats, records, aside), uuid.uuid4().hex)
    size = len(event.model_dump_json().encode())
    assert size <= PREVIEW_MAX_BYTES < 1024 * 1024
    assert event.truncated and event.records and event.set_aside
    assert event.counts["items"] == 5500  # the counts cover everything
    PreviewCompleted.model_validate_json(event.model_dump_json())
