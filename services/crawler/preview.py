"""``crawler preview PARTNER``: what a crawl of the partner would emit, without touching anything.

A bounded sample (``max_pages`` requests), fetched politely (robots.txt, delays, the partner's
hosts only) with no stored state (no conditional GET) and no broker: the records it would emit,
every field with where it came from, and every item it would skip or reject, with the rule or
the reason. Nothing is written: no crawl state, no run, no event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


def render(p: Preview) -> str:
    """The preview as text: each record's fields with their source, then what was set aside."""
    st = p.stats
    out = [f"{p.partner}: {p.status} — {st.items} items: {st.projects} projects, {st.excluded} skipped, "
           f"{st.rejected} rejected; {st.requests} requests" + ("" if st.complete else " (sample or incomplete)")]
    for m in p.records:
        r = m.record
        out.append(f"\nRECORD {r.source_record_id}  {r.url}")
        sources = m.sources or {}
        data = r.model_dump(exclude_none=True, exclude={"source"})
        for key, value in data.items():
            if value in ([], {}, ""):
                continue
            if isinstance(value, dict):
                for sub, v in value.items():
                    where = sources.get(f"{key}.{sub}") or sources.get(key) or "?"
                    out.append(f"  {key}.{sub:<12} {_value(v)[:120]!s:<60}  ← {where}")
                continue
            where = sources.get(key) or "?"
            text = _value(value).replace("\n", " ")
            out.append(f"  {key:<20} {text[:120]:<60}  ← {where}")
    if p.set_aside:
        out.append("\nSET ASIDE (and emitted with a loss)")
        for o in p.set_aside:
            out.append(f"  {o.verdict:<8} {o.rule or '':<12} {o.url}  {o.title or o.record_id or ''}")
            out.append(f"           {o.reason}")
    for err in st.error_samples:
        out.append(f"  error: {err}")
    return "\n".join(out)
