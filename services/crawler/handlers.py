"""One crawl of one partner: load state, run its connector, emit changes, save state, record the run."""

from __future__ import annotations

import contextlib
import time

import orjson
import structlog
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge, Histogram

from libs.contracts.events import (
    CrawlInfo,
    Operation,
    PartnerRecord,
    SourceRecordEvent,
    record_key,
)
from libs.contracts.partner_events import PartnerStatusChanged
from libs.contracts.topics import CRAWL_PARTNERS, CRAWL_RECORDS
from libs.runtime import messaging
from libs.runtime.messaging import dead_letter, publish
from services.crawler.adapters.http import PoliteClient
from services.crawler.adapters.store import CrawlStore
from services.crawler.connectors import connector_for
from services.crawler.crawl import CrawlSession, RunStats, elapsed_ms, status_of

log = structlog.get_logger()

RUNS = Counter("carrefour_crawler_runs_total", "Crawl runs, by final status", ["partner", "status"])
REQUESTS = Counter("carrefour_crawler_requests_total", "HTTP requests of the crawler, by answer",
                   ["partner", "answer"])
RECORDS = Counter("carrefour_crawler_records_total", "Records emitted or rejected, by change", ["partner", "change"])
SET_ASIDE = Counter("carrefour_crawler_items_set_aside_total",
                    "Items read but not emitted: skipped (not a project) or rejected, by rule", ["partner", "rule"])
RUN_SECONDS = Histogram("carrefour_crawler_run_seconds", "Duration of one partner's crawl", ["partner"],
                        buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600))
LAST_RUN = Gauge("carrefour_crawler_last_run_timestamp_seconds", "End of the partner's last crawl (Unix time)",
                 ["partner"])


def _observe(stats: RunStats, status: str, seconds: float) -> None:
    p = stats.partner
    RUNS.labels(p, status).inc()
    other = stats.requests - stats.fetched - stats.not_modified - stats.unchanged
    for answer, n in (("fetched", stats.fetched), ("not_modified", stats.not_modified),
                      ("unchanged_body", stats.unchanged), ("other", max(0, other))):
        REQUESTS.labels(p, answer).inc(n)
    for change in ("new", "updated", "deleted", "rejected"):
        RECORDS.labels(p, change).inc(getattr(stats, change))
    for rule, n in stats.by_rule.items():
        SET_ASIDE.labels(p, rule).inc(n)
    RUN_SECONDS.labels(p).observe(seconds)
    LAST_RUN.labels(p).set(time.time())


class BrokerEmitter:
    """Publishes onto crawl.records.v1 (and rejects onto deadletter.v1), waiting for the broker's ack."""

    def __init__(self, broker: KafkaBroker):
        self.broker = broker

    async def upsert(self, record: PartnerRecord, crawl: CrawlInfo) -> None:
        await publish(self.broker, CRAWL_RECORDS, SourceRecordEvent.upsert(record, crawl=crawl), key=record.record_key)

    async def delete(self, source: str, record_id: str) -> None:
        event = SourceRecordEvent(op=Operation.DELETE, source=source, source_record_id=record_id)
        await publish(self.broker, CRAWL_RECORDS, event, key=record_key(source, record_id))

    async def status(self, event: PartnerStatusChanged) -> None:
        await publish(self.broker, CRAWL_PARTNERS, event, key=event.partner.slug)

    async def reject(self, source: str, raw, reason: str, record_id: str | None, error_type: str) -> None:
        body = raw if isinstance(raw, bytes) else orjson.dumps(raw, default=str)
        await dead_letter(self.broker, service="crawler", topic=f"crawl:{source}", body=body, reason=reason,
                          error_type=error_type, key=record_key(source, record_id or "?").encode())


async def crawl_partner(partner, client: PoliteClient, store: CrawlStore, emitter, progress=None,
                        full: bool = False) -> RunStats:
    """``full``: no conditional GET and every record re-emitted (after a pipeline change or data loss)."""
    started = time.perf_counter()
    run_id = await store.start_run(partner.slug)
    urls, records = await store.load(partner.slug)
    if full:
        urls = {u: s for u, s in urls.items() if u.endswith("/robots.txt")}
        for state in records.values():
            state.content_hash = ""
    session = CrawlSession(partner, client, urls, records, emitter, progress)
    deferred = getattr(messaging, "deferred_confirms", None)  # acks awaited once, before the state is saved
    try:
        async with (deferred() if deferred else contextlib.nullcontext()):
            await connector_for(partner).run(session)
            stats = await session.finish()
    except Exception as exc:  # nothing saved: the next crawl re-emits (idempotent downstream)
        session.stats.complete = False
        session.error(partner.base_url, f"crawl aborted: {type(exc).__name__}: {exc}", listing=True)
        await store.finish_run(run_id, "failed", session.stats.as_dict())
        _observe(session.stats, "failed", time.perf_counter() - started)
        await report_status(store, emitter, partner.slug, run_id)
        raise
    touched = [session.urls[u] for u in session.touched if u in session.urls]
    await store.save(partner.slug, touched, session.removed_urls,
                     [session.records[r] for r in session.dirty_records])
    status = status_of(stats, partner.max_reject_share)
    await store.finish_run(run_id, status, stats.as_dict())
    _observe(stats, status, time.perf_counter() - started)
    await report_status(store, emitter, partner.slug, run_id)
    log.info("crawled", outcome=status, duration_ms=elapsed_ms(started),
             **{k: v for k, v in stats.as_dict().items() if k not in ("error_samples", "first_reasons")})
    return stats


async def report_status(store: CrawlStore, emitter, slug: str | None = None, run_id: int | None = None) -> int:
    """Publish the partners' status (one partner's run after a crawl; every partner at start-up) on
    ``crawl.partners.v1``, for the gateway's partner pages. An emitter without ``status`` (a preview, a
    test recorder) publishes nothing. Returns the number of events published."""
    send = getattr(emitter, "status", None)
    if send is None:
        return 0
    events = await store.statuses(slug, run_id)
    for event in events:
        await send(event)
    return len(events)
