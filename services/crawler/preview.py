"""``crawler preview PARTNER``: what a crawl of the partner would emit, without touching anything.

A bounded sample (``max_pages`` requests), fetched politely (robots.txt, delays, the partner's
hosts only) with no stored state (no conditional GET) and no broker: the records it would emit,
every field with where it came from, and every item it would skip or reject, with the rule or
the reason. Nothing is written: no crawl state, no run, no event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from libs.contracts.preview_events import (
    PREVIEW_MAX_ASIDE,
    PREVIEW_MAX_BYTES,
    PREVIEW_MAX_ERRORS,
    PREVIEW_MAX_RECORDS,
    PREVIEW_REASON_CHARS,
    PREVIEW_VALUE_CHARS,
    PreviewCompleted,
    PreviewField,
    PreviewItem,
    PreviewRecord,
)
from services.crawler.adapters.http import PoliteClient
from services.crawler.connectors import connector_for
from services.crawler.crawl import CrawlSession, RunStats, status_of
from services.crawler.domain import Mapped
from services.crawler.outcomes import Outcome

DEFAULT_MAX_PAGES = 30


class NoEmitter:
    """Keeps nothing: the preview never publishes."""

    async def upsert(self, record, crawl) -> None:
        pass

    async def delete(self, source, record_id) -> None:
        pass

    async def reject(self, source, raw, reason, record_id, error_type) -> None:
        pass


@dataclass
class Preview:
    partner: str
    status: str
    stats: RunStats
    records: list[Mapped] = field(default_factory=list)
    set_aside: list[Outcome] = field(default_factory=list)


async def preview(partner, client: PoliteClient, max_pages: int = DEFAULT_MAX_PAGES) -> Preview:
    bounded = partner.model_copy(update={"max_pages": max_pages})
    session = CrawlSession(bounded, client, {}, {}, NoEmitter())
    await connector_for(bounded).run(session)
    stats = session.stats
    return Preview(partner.slug, status_of(stats, partner.max_reject_share), stats, list(session.accepted),
                   [o for o in stats.outcomes if o.verdict != "emitted" or o.rule])


def _value(value: Any) -> str:
    if isinstance(value, list):
        return " | ".join(str(v) for v in value)
    return str(value)


def fields_of(m: Mapped) -> list[tuple[str, str, str]]:
    """A record's fields as ``(name, value, where it came from)``, nested ones dotted (``holder.name``)."""
    r = m.record
    sources = m.sources or {}
    out: list[tuple[str, str, str]] = []
    for key, value in r.model_dump(mode="json", exclude_none=True, exclude={"source"}).items():
        if value in ([], {}, ""):
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                out.append((f"{key}.{sub}", _value(v), sources.get(f"{key}.{sub}") or sources.get(key) or "?"))
            continue
        out.append((key, _value(value).replace("\n", " "), sources.get(key) or "?"))
    return out


def render(p: Preview) -> str:
    """The preview as text: each record's fields with their source, then what was set aside."""
    st = p.stats
    out = [f"{p.partner}: {p.status} — {st.items} items: {st.projects} projects, {st.excluded} skipped, "
           f"{st.rejected} rejected; {st.requests} requests" + ("" if st.complete else " (sample or incomplete)")]
    for m in p.records:
        r = m.record
        out.append(f"\nRECORD {r.source_record_id}  {r.url}")
        for name, text, where in fields_of(m):
            out.append(f"  {name:<20} {text[:120]:<60}  ← {where}")
    if p.set_aside:
        out.append("\nSET ASIDE (and emitted with a loss)")
        for o in p.set_aside:
            out.append(f"  {o.verdict:<8} {o.rule or '':<12} {o.url}  {o.title or o.record_id or ''}")
            out.append(f"           {o.reason}")
    for err in st.error_samples:
        out.append(f"  error: {err}")
    return "\n".join(out)


def to_event(p: Preview, request_id: str, correlation_id: str | None = None) -> PreviewCompleted:
    """The preview as a bounded event: lists cut to the contract's bounds, values cut to their
    length, then the last records and items dropped until the encoded event is under
    ``PREVIEW_MAX_BYTES`` (``truncated`` says something was cut; the counts cover everything)."""
    st = p.stats
    cut = len(p.records) > PREVIEW_MAX_RECORDS or len(p.set_aside) > PREVIEW_MAX_ASIDE
    records = [PreviewRecord(
        record_id=_cut(m.record.source_record_id, 200), url=_cut(m.record.url, 2048),
        fields=[PreviewField(name=_cut(n, 60), value=_cut(v, PREVIEW_VALUE_CHARS), source=_cut(w, 120))
                for n, v, w in fields_of(m)[:30]]) for m in p.records[:PREVIEW_MAX_RECORDS]]
    aside = [PreviewItem(verdict=o.verdict, rule=_cut(o.rule, 40), url=_cut(o.url, 2048),
                         title=_cut(o.title or o.record_id, PREVIEW_VALUE_CHARS),
                         reason=_cut(o.reason, PREVIEW_REASON_CHARS)) for o in p.set_aside[:PREVIEW_MAX_ASIDE]]
    counts = {k: getattr(st, k) for k in COUNTS}
    extra = {"correlation_id": correlation_id} if correlation_id else {}
    event = PreviewCompleted(request_id=request_id, partner=p.partner, status=p.status, counts=counts,
                             by_rule=dict(list(st.by_rule.items())[:60]), records=records, set_aside=aside,
                             errors=[_cut(e, PREVIEW_REASON_CHARS) for e in st.error_samples[:PREVIEW_MAX_ERRORS]],
                             truncated=cut, **extra)
    while len(event.model_dump_json().encode()) > PREVIEW_MAX_BYTES and (event.records or event.set_aside):
        longer = event.records if len(event.records) >= len(event.set_aside) else event.set_aside
        longer.pop()
        event.truncated = True
    return event


def failed_event(request_id: str, partner: str, error: str, correlation_id: str | None = None) -> PreviewCompleted:
    extra = {"correlation_id": correlation_id} if correlation_id else {}
    return PreviewCompleted(request_id=request_id, partner=partner, status="error", error=_cut(error, 4000), **extra)


COUNTS = ("requests", "fetched", "items", "projects", "excluded", "rejected", "errors", "disallowed")


def _cut(text: str | None, n: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= n else text[: n - 1] + "…"
