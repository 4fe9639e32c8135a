"""One crawl of one partner: a session that fetches politely and incrementally, and emits changes.

The connectors (connectors.py) decide what to fetch and how to read it (pure parsers in
parsing/); the session does the rest: robots.txt, conditional GET, body hashes, record diffs,
deletions, statistics. Nothing is written to the crawl state unless the whole crawl's events
were acknowledged by the broker (a failure re-emits next time; downstream is idempotent).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog
from protego import Protego

from libs.contracts.events import CrawlInfo, PartnerRecord, utcnow
from services.crawler import domain, triage
from services.crawler.adapters.http import FetchError, PoliteClient, Response
from services.crawler.domain import Mapped, RecordState, UrlState
from services.crawler.outcomes import Ledger, Outcome
from services.crawler.parsing.common import decode_text
from services.crawler.parsing.page import PageFacts

log = structlog.get_logger()
MAX_CRAWL_DELAY_S = 60.0

FAMILIES: dict[str, set[str]] = {
    "html": {"text/html", "application/xhtml+xml"},
    "xml": {"application/xml", "text/xml", "application/rss+xml", "application/atom+xml", "application/x-xml",
            "text/plain", "application/rdf+xml"},
    "json": {"application/json", "text/json", "text/plain", "application/ld+json", "application/javascript"},
    "csv": {"text/csv", "text/plain", "application/csv", "text/comma-separated-values", "application/vnd.ms-excel",
            "application/octet-stream", "text/tab-separated-values"},
}


def content_type_ok(family: str, content_type: str) -> bool:
    if not content_type:
        return True
    if family == "json" and content_type.endswith("+json"):
        return True
    if family == "xml" and content_type.endswith("+xml"):
        return True
    return content_type in FAMILIES[family]


class Emitter(Protocol):
    async def upsert(self, record: PartnerRecord, crawl: CrawlInfo) -> None: ...
    async def delete(self, source: str, record_id: str) -> None: ...
    async def reject(self, source: str, raw: Any, reason: str, record_id: str | None, error_type: str) -> None: ...


@dataclass
class RunStats:
    partner: str
    requests: int = 0
    fetched: int = 0
    not_modified: int = 0
    unchanged: int = 0
    skipped: int = 0
    disallowed: int = 0
    new: int = 0
    updated: int = 0
    deleted: int = 0
    rejected: int = 0
    errors: int = 0
    items: int = 0
    """Items read (records of exports, pages, posts): each ends as a project, excluded or rejected."""
    projects: int = 0
    """Items that passed the record test (emitted now, or unchanged since the last crawl)."""
    excluded: int = 0
    """Items skipped as not projects, each with its rule (``by_rule``)."""
    complete: bool = True
    error_samples: list[str] = field(default_factory=list)
    by_rule: dict[str, int] = field(default_factory=dict)
    """``skipped:<rule>`` / ``rejected:<rule>`` → items."""
    first_reasons: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list, repr=False)
    """Every item's outcome (in memory only: the preview and the tests read them)."""

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "outcomes"}


@dataclass
class Doc:
    url: str
    state: str
    """changed (body to read), unchanged (304 or same body: use ``links``), gone (404/410), error."""
    body: bytes | None = None
    response: Response | None = None
    links: list[dict] = field(default_factory=list)

    @property
    def text(self) -> str:
        return decode_text(self.body or b"", self.response.charset if self.response else None)


class CrawlSession:
    def __init__(self, partner, client: PoliteClient, urls: dict[str, UrlState],
                 records: dict[str, RecordState], emitter: Emitter, progress=None):
        self.partner, self.client, self.emitter = partner, client, emitter
        self.slug: str = partner.slug
        self.urls, self.records = urls, records
        self.stats = RunStats(partner.slug)
        self.seen: set[str] = set()
        self.gone: set[str] = set()
        self.touched: set[str] = set()
        self.removed_urls: set[str] = set()
        self.dirty_records: set[str] = set()
        self.emitted: set[str] = set()
        self._page_ids: dict[str, list[str]] = {}
        self.accepted: list[Mapped] = []
        """The project records of this crawl (with their field sources), for the preview."""
        self._robots: dict[str, Protego | bool] = {}
        self._delays: dict[str, float] = {}
        self.progress = progress
        self.ledger = Ledger()
        test = getattr(partner, "record_test", None)
        self.record_test = triage.RecordTest(**test.model_dump()) if test is not None else triage.RecordTest()
        self.url_filter = getattr(partner.options, "wanted", None)
        self.theme_words = _theme_words
        self.now: datetime = utcnow()
        self.hosts = {urlsplit(partner.base_url).hostname} | {h.lower() for h in partner.extra_hosts}
        for value in partner.options.model_dump().values():
            for u in value if isinstance(value, list) else [value]:
                if isinstance(u, str) and u.startswith(("http://", "https://")):
                    self.hosts.add(urlsplit(u).hostname)

    # ------------------------------------------------------------------ bookkeeping

    def error(self, url: str, message: str, listing: bool) -> None:
        self.stats.errors += 1
        if len(self.stats.error_samples) < 20:
            self.stats.error_samples.append(message[:300])
        if listing:
            self.incomplete()
        log.warning("fetch problem", partner=self.slug, url=url, error=message)

    def incomplete(self) -> None:
        self.stats.complete = False

    def keep(self, url: str) -> None:
        """The records a URL gave last time are still there (304, same body, transient error)."""
        state = self.urls.get(url)
        if state is not None:
            self.seen.update(state.record_ids)

    def skip(self, url: str) -> None:
        """Not fetched at all (sitemap lastmod older than our last fetch): its records stay."""
        self.stats.skipped += 1
        self.touched.add(url)
        self.keep(url)

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(self.stats)

    # ------------------------------------------------------------------ robots.txt, hosts

    async def can_fetch(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.hostname not in self.hosts:
            raise FetchError(url, "unsafe", f"host {parts.hostname} is not one of the partner's hosts")
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = await self._load_robots(origin)
        rules = self._robots[origin]
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(url, self.client.user_agent)

    async def _load_robots(self, origin: str) -> Protego | bool:
        """RFC 9309: 4xx → everything allowed; 5xx or unreachable → nothing allowed this crawl."""
        url = f"{origin}/robots.txt"
        state = self.urls.get(url)
        self.touched.add(url)
        try:
            resp = await self.client.get(url, headers=domain.conditional_headers(state), delay_s=self.partner.delay_s,
                                         allow_private=self.partner.allow_private_addresses)
        except FetchError as exc:
            self.stats.requests += exc.requests
            self.error(url, f"robots.txt unreachable, nothing fetched from {origin}: {exc}", listing=True)
            return False
        self.stats.requests += resp.requests
        if resp.status == 304 and state is not None and state.body is not None:
            self.stats.not_modified += 1
            return self._rules(origin, state.body)
        if resp.status == 200:
            text = decode_text(resp.body, resp.charset)
            self.stats.fetched += 1
            self.urls[url] = UrlState(url, resp.headers.get("etag"), resp.headers.get("last-modified"),
                                      domain.body_hash(resp.body), 200, body=text, last_fetched=self.now)
            return self._rules(origin, text)
        if 400 <= resp.status < 500:
            self.urls[url] = UrlState(url, status=resp.status, last_fetched=self.now)
            return True
        self.error(url, f"robots.txt answered HTTP {resp.status}, nothing fetched from {origin}", listing=True)
        return False

    def _rules(self, origin: str, text: str) -> Protego:
        rules = Protego.parse(text)
        crawl_delay = rules.crawl_delay(self.client.user_agent)
        if crawl_delay:  # the site's Crawl-delay wins over a shorter configured delay (capped at a minute)
            self._delays[origin] = min(float(crawl_delay), MAX_CRAWL_DELAY_S)
        return rules

    def delay_for(self, url: str) -> float:
        parts = urlsplit(url)
        return max(self.partner.delay_s, self._delays.get(f"{parts.scheme}://{parts.netloc}", 0.0))

    # ------------------------------------------------------------------ fetching

    async def get(self, url: str, family: str, listing: bool = False) -> Doc:
        self.touched.add(url)
        state = self.urls.get(url)
        if self.stats.requests >= self.partner.max_pages:
            self.keep(url)
            self.error(url, f"max_pages ({self.partner.max_pages}) reached", listing=True)
            return Doc(url, "error")
        try:
            resp = await self.client.get(url, headers=domain.conditional_headers(state), delay_s=self.delay_for(url),
                                         allow_private=self.partner.allow_private_addresses, can_fetch=self.can_fetch)
        except FetchError as exc:
            self.stats.requests += exc.requests
            self.keep(url)
            if exc.kind == "robots":
                self.stats.disallowed += 1
                log.info("robots.txt disallows", partner=self.slug, url=exc.url)
                if listing:
                    self.incomplete()
            else:
                self.error(url, str(exc), listing)
            return Doc(url, "error")
        finally:
            self._tick()
        self.stats.requests += resp.requests
        if resp.status == 304 and state is not None:
            self.stats.not_modified += 1
            self.keep(url)
            return Doc(url, "unchanged", links=state.links)
        if resp.status in (404, 410):
            if state is not None:
                self.gone.update(state.record_ids)
                self.urls.pop(url, None)
                self.removed_urls.add(url)
            if listing:
                self.error(url, f"GET {url}: HTTP {resp.status} (listing gone)", listing)
            return Doc(url, "gone")
        if resp.status != 200:
            self.keep(url)
            self.error(url, f"GET {url}: HTTP {resp.status}", listing)
            return Doc(url, "error")
        if not content_type_ok(family, resp.content_type):
            self.keep(url)
            self.error(url, f"GET {url}: unexpected content type {resp.content_type!r} for {family}", listing)
            return Doc(url, "error")
        h = domain.body_hash(resp.body)
        new_state = UrlState(url, resp.headers.get("etag"), resp.headers.get("last-modified"), h, 200,
                             links=state.links if state else [], record_ids=state.record_ids if state else [],
                             last_fetched=self.now)
        self.urls[url] = new_state
        if state is not None and state.content_hash == h:
            self.stats.unchanged += 1
            self.keep(url)
            return Doc(url, "unchanged", links=state.links)
        self.stats.fetched += 1
        return Doc(url, "changed", body=resp.body, response=resp)

    def set_links(self, url: str, links: list[dict]) -> None:
        if url in self.urls:
            self.urls[url].links = links

    async def unreadable(self, doc: Doc, reason: str, listing: bool) -> None:
        """A document that could not be read: dead-lettered once, re-read next time, its records kept."""
        state = self.urls.get(doc.url)
        if state is not None:
            state.content_hash = None  # parse again next time even if unchanged
        self.keep(doc.url)
        self.error(doc.url, f"unreadable {doc.url}: {reason}", listing)
        self.outcome(Outcome(doc.url, "rejected", "unreadable", reason[:300]))
        await self.emitter.reject(self.slug, doc.body or b"", f"unreadable {doc.url}: {reason}", None, "document")

    # ------------------------------------------------------------------ records

    def outcome(self, outcome: Outcome) -> None:
        self.ledger.add(outcome)
        st, led = self.stats, self.ledger
        st.items, st.projects, st.excluded, st.rejected = led.items, led.projects, led.excluded, led.rejected
        st.by_rule, st.first_reasons, st.outcomes = led.by_rule, led.first_reasons, led.outcomes
        if outcome.verdict != "emitted" or outcome.rule:
            log.info("item set aside" if outcome.verdict != "emitted" else "item emitted with a loss",
                     partner=self.slug, url=outcome.url, verdict=outcome.verdict, rule=outcome.rule,
                     reason=outcome.reason)

    def _set_aside(self, record: PartnerRecord, url: str, facts: PageFacts | None) -> triage.Verdict | None:
        target = str(record.url)
        if self.url_filter is not None and not self.url_filter(target):
            return triage.Verdict("url_pattern", "URL outside the partner's include/exclude patterns")
        return triage.verdict(record, facts, self.record_test, self.theme_words, self.partner.base_url)

    async def emit_records(self, url: str, mapped: list[Mapped], facts: PageFacts | None = None) -> None:
        """Every item ends as emitted (or unchanged), skipped with its rule, or rejected with its reason.
        A document may give its records over several calls (one per post): its record ids accumulate."""
        ids: list[str] = self._page_ids.setdefault(url, [])
        if not mapped and facts is not None:
            aside = triage.page_verdict(url, None, facts, self.record_test, self.partner.base_url)
            self.outcome(Outcome(url, "skipped", aside.rule if aside else "no_record",
                                 aside.reason if aside else "no record of the expected kind in the page"))
        for m in mapped:
            if m.record is None:
                await self.emitter.reject(self.slug, m.raw, f"invalid record {m.raw_id or '?'} at {url}: {m.error}",
                                          m.raw_id, "rejected")
                self.outcome(Outcome(url, "rejected", "invalid", m.error, m.raw_id))
                if m.raw_id and m.raw_id in self.records:  # keep its last good version
                    self.seen.add(m.raw_id)
                    ids.append(m.raw_id)
                continue
            record = m.record
            rid = record.source_record_id
            aside = self._set_aside(record, url, facts)
            if aside is not None:
                self.outcome(Outcome(str(record.url), "skipped", aside.rule, aside.reason, rid, record.title))
                continue
            if rid in self.emitted or rid in ids:
                self.outcome(Outcome(str(record.url), "skipped", "duplicate", "same record id earlier in this crawl",
                                     rid, record.title))
                continue  # the same record twice in one crawl: first wins
            self.outcome(Outcome(str(record.url), "emitted", "warning" if m.warning else None, m.warning, rid,
                                 record.title))
            self.accepted.append(m)
            ids.append(rid)
            self.seen.add(rid)
            h = domain.content_hash(record)
            previous = self.records.get(rid)
            change = domain.record_change(previous, h)
            if change == "unchanged":
                continue
            await self.emitter.upsert(record, CrawlInfo(fetched_url=url, fetched_at=self.now, content_hash=h))
            self.emitted.add(rid)
            self.records[rid] = RecordState(rid, h, url)
            self.dirty_records.add(rid)
            if change == "new":
                self.stats.new += 1
            else:
                self.stats.updated += 1
        if url in self.urls:
            self.urls[url].record_ids = list(ids)

    async def finish(self) -> RunStats:
        delete, missing = domain.deletions_after_crawl(self.records, self.seen, self.gone, self.stats.complete,
                                                       self.partner.delete_after_missing)
        for rid in delete:
            await self.emitter.delete(self.slug, rid)
            self.records[rid].deleted = True
            self.records[rid].missing_cycles = 0
            self.dirty_records.add(rid)
        for rid, count in missing.items():
            self.records[rid].missing_cycles = count
            self.dirty_records.add(rid)
        self.stats.deleted = len(delete)
        if self.stats.complete:  # URLs no listing led to any more: forget them
            for url in [u for u in self.urls if u not in self.touched]:
                self.urls.pop(url)
                self.removed_urls.add(url)
        self._tick()
        return self.stats


def _theme_words(text: str) -> bool:
    """Theme words in a text, per the normalizer's keyword classifier (the one taxonomy)."""
    from libs.contracts.keywords import keyword_hits

    return bool(keyword_hits("theme", text))


def status_of(stats: RunStats, max_reject_share: float = 0.1) -> str:
    """ok; degraded (complete, but more than ``max_reject_share`` of the items rejected); partial; failed."""
    if stats.errors == 0 and stats.complete:
        if stats.items and stats.rejected / stats.items > max_reject_share:
            return "degraded"
        return "ok"
    if stats.fetched or stats.not_modified or stats.unchanged:
        return "partial"
    return "failed"


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
