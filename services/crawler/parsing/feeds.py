"""RSS 2.0 / Atom feeds (feedparser)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import feedparser

from services.crawler.domain import Mapped
from services.crawler.parsing.common import (
    build_record,
    clean_url,
    html_to_text,
    record_id_for_url,
    to_date,
    truncate,
)


@dataclass(frozen=True)
class FeedEntry:
    id: str | None
    link: str | None
    title: str | None
    summary: str | None
    categories: list[str] = field(default_factory=list)
    published: str | None = None
    updated: str | None = None
    author: str | None = None


def _iso(parsed) -> str | None:
    if not parsed:
        return None
    return f"{parsed.tm_year:04d}-{parsed.tm_mon:02d}-{parsed.tm_mday:02d}"


def parse_feed(body: bytes) -> list[FeedEntry]:
    """Entries of an RSS or Atom document; ValueError when it is neither."""
    with warnings.catch_warnings():  # feedparser warns about its updated→published fallback
        warnings.simplefilter("ignore", DeprecationWarning)
        parsed = feedparser.parse(body, sanitize_html=True, resolve_relative_uris=False)
        return _entries(parsed)


def _entries(parsed) -> list[FeedEntry]:
    if not parsed.get("version") and not parsed.entries:
        raise ValueError(f"not an RSS/Atom feed: {parsed.get('bozo_exception') or 'no entries'}")
    out = []
    for e in parsed.entries:
        content = e.get("content")
        summary = (content[0].get("value") if content else None) or e.get("summary")
        out.append(FeedEntry(
            id=e.get("id") or e.get("guid"),
            link=e.get("link"),
            title=html_to_text(e.get("title")),
            summary=html_to_text(summary),
            categories=[t.get("term") for t in e.get("tags", []) if t.get("term")],
            published=_iso(e.get("published_parsed")) or to_date(e.get("published")),
            updated=_iso(e.get("updated_parsed")) or to_date(e.get("updated")),
            author=e.get("author"),
        ))
    return out


def entry_record(entry: FeedEntry, source: str) -> Mapped:
    """A record from the feed entry itself (when item pages are not followed)."""
    rid = entry.id if entry.id and len(entry.id) <= 200 else (record_id_for_url(entry.link) if entry.link else None)
    return build_record(entry, source, {
        "source_record_id": rid,
        "url": clean_url(entry.link) if entry.link else None,
        "title": truncate(entry.title or "", 300),
        "description": truncate(entry.summary, 20_000),
        "themes": [truncate(c, 100) for c in entry.categories][:30],
        "holder": {"name": truncate(entry.author, 200)} if entry.author else None,
        "published_at": entry.published,
        "updated_at": entry.updated,
    })
