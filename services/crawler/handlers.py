"""One crawl of one partner: fetch, map, diff, emit upserts/deletions, dead-letter bad records."""

from __future__ import annotations

import time

import orjson
import structlog
from faststream.kafka import KafkaBroker

from libs.contracts.events import (
    CrawlInfo,
    Operation,
    SourceRecordEvent,
    record_key,
    utcnow,
)
from libs.contracts.runtime.messaging import dead_letter, publish
from libs.contracts.topics import CRAWL_RECORDS
from services.crawler import domain
from services.crawler.adapters.http import FetchError, PoliteClient
from services.crawler.config import PartnerConfig

log = structlog.get_logger()


class CrawlState:
    """Last seen content hash per partner and record (in memory: a restart re-emits, harmlessly)."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}


async def crawl_partner(partner: PartnerConfig, client: PoliteClient, state: CrawlState, broker: KafkaBroker) -> dict:
    started = time.perf_counter()
    stats = {"partner": partner.slug, "upserts": 0, "deletions": 0, "unchanged": 0, "rejected": 0}
    opts = partner.options
    try:
        fetched = await client.get(opts.url, partner.delay_s)
    except FetchError as exc:
        log.warning("crawl failed", partner=partner.slug, error=str(exc))
        return {**stats, "error": str(exc)}
    if fetched.body is None:
        log.info("crawled", outcome="not_modified", **stats, duration_ms=_ms(started))
        return stats
    try:
        mapped = domain.map_json_export(orjson.loads(fetched.body), partner.slug, opts.records_path, opts.fields)
    except (orjson.JSONDecodeError, ValueError) as exc:
        await dead_letter(broker, service="crawler", topic=f"crawl:{partner.slug}", body=fetched.body,
                          reason=f"unreadable export {opts.url}: {exc}", error_type="export")
        return {**stats, "error": str(exc)}

    previous = state.hashes.get(partner.slug, {})
    good = [m.record for m in mapped if m.record is not None]
    bad = [m for m in mapped if m.record is None]
    changes = domain.diff(previous, good)
    info = dict(fetched_url=opts.url, fetched_at=utcnow())
    for record, h in changes.upserts:
        event = SourceRecordEvent.upsert(record, crawl=CrawlInfo(content_hash=h, **info))
        await publish(broker, CRAWL_RECORDS, event, key=record.record_key)
    for rid in changes.deletions:
        event = SourceRecordEvent(op=Operation.DELETE, source=partner.slug, source_record_id=rid)
        await publish(broker, CRAWL_RECORDS, event, key=record_key(partner.slug, rid))
    for m in bad:
        await dead_letter(broker, service="crawler", topic=f"crawl:{partner.slug}",
                          body=orjson.dumps(m.raw), reason=f"invalid record {m.raw_id or '?'}: {m.error}",
                          error_type="rejected", key=record_key(partner.slug, m.raw_id or "?").encode())
    # a bad record keeps its previous good version (never lose good data on a partner's typo)
    bad_ids = {m.raw_id for m in bad if m.raw_id}
    kept = {rid: previous[rid] for rid in bad_ids if rid in previous}
    state.hashes[partner.slug] = {r.source_record_id: domain.content_hash(r) for r in good} | kept
    stats.update(upserts=len(changes.upserts), deletions=len(changes.deletions) - len(kept),
                 unchanged=changes.unchanged, rejected=len(bad))
    log.info("crawled", outcome="ok", **stats, duration_ms=_ms(started))
    return stats


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
