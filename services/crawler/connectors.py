"""One connector per publishing shape. Each decides what to fetch and which pure parser reads it;
the CrawlSession (crawl.py) fetches, diffs and emits."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson

from services.crawler.crawl import CrawlSession, Doc
from services.crawler.domain import Mapped
from services.crawler.outcomes import Outcome
from services.crawler.parsing import feeds, html, page, schemaorg, sitemap, tabular, wordpress
from services.crawler.parsing.common import split_labels, truncate

T = TypeVar("T")


async def parse_page(s: CrawlSession, doc: Doc, parse, categories: list[str] | None = None) -> None:
    """Emit a changed page's records, each put to the record test with the page's facts; a parser
    failure on one page is that page's error, not the crawl's. ``categories`` (a feed item's) are
    kept as theme labels."""
    if doc.state != "changed":
        return
    try:
        facts = page.page_facts(doc.body, doc.url)
        facts.types = schemaorg.page_types(doc.body)
        facts.categories = list(categories or [])
        mapped = parse(doc)
    except Exception as exc:  # noqa: BLE001 — an unexpected parser failure must not stop the partner's crawl
        await s.unreadable(doc, f"{type(exc).__name__}: {exc}", listing=False)
        return
    if categories:
        mapped = [with_themes(m, categories) for m in mapped]
    await s.emit_records(doc.url, mapped, facts)


def with_themes(m: Mapped, labels: list[str]) -> Mapped:
    """The record with extra theme labels (a feed item's categories), deduplicated, at most 30."""
    if m.record is None:
        return m
    themes = list(dict.fromkeys([*m.record.themes, *(truncate(t, 100) for t in split_labels(labels))]))[:30]
    sources = {**(m.sources or {}), "themes": ((m.sources or {}).get("themes", "") + " + feed categories").lstrip(" +")}
    return dataclasses.replace(m, record=m.record.model_copy(update={"themes": themes}), sources=sources)


def page_reader(s: CrawlSession, extraction) -> Callable[[Doc], list[Mapped]]:
    """How a project page is read, per the partner's PageExtraction: schema.org items, selectors, or
    ``auto`` (schema.org items when the page has some, else the page itself)."""
    types = tuple(extraction.types)
    if extraction.mode == "selectors":
        return lambda d: [html.detail_record(d.text, d.url, s.slug, extraction.selectors)]
    if extraction.mode == "auto":
        return lambda d: schemaorg.page_records(d.body, d.url, s.slug, types) or [
            page.generic_record(d.text, d.url, s.slug)]
    return lambda d: schemaorg.page_records(d.body, d.url, s.slug, types)


async def read_page(s: CrawlSession, doc: Doc, extraction, categories: list[str] | None = None) -> None:
    await parse_page(s, doc, page_reader(s, extraction), categories)


def url_skipped(s: CrawlSession, opts, url: str) -> bool:
    """A page URL outside the partner's patterns: not fetched, counted as skipped."""
    if opts.wanted(url):
        return False
    s.outcome(Outcome(url, "skipped", "url_pattern", "URL outside the partner's include/exclude patterns"))
    return True


async def parsed_listing(s: CrawlSession, doc: Doc, parse: Callable[[bytes], T],
                         errors: tuple[type[Exception], ...] = (ValueError,)) -> T | None:
    """``parse(doc.body)``, or None when it raises one of ``errors``: the listing is then unreadable
    (dead-lettered, read again next time)."""
    try:
        return parse(doc.body)
    except errors as exc:
        await s.unreadable(doc, str(exc), listing=True)
        return None


async def listing_links(s: CrawlSession, url: str, doc: Doc,
                        read: Callable[[Doc], Awaitable[list[dict] | None]]) -> list[dict] | None:
    """A listing's links: ``read`` from the document when it changed (and kept under ``url`` for the
    next crawl), the kept ones when it did not; None when there are none to follow (a fetch error,
    or ``read`` said so: an unreadable listing, or one it consumed itself)."""
    if doc.state == "changed":
        links = await read(doc)
        if links is not None:
            s.set_links(url, links)
        return links
    if doc.state == "unchanged":
        return doc.links
    return None


class _ExportConnector:
    """One export document (the complete listing of a partner's records) read by ``parse``."""

    kind = ""
    errors: tuple[type[Exception], ...] = (ValueError,)

    def __init__(self, partner):
        self.opts = partner.options

    def parse(self, body: bytes, slug: str, url: str):
        raise NotImplementedError

    async def run(self, s: CrawlSession) -> None:
        doc = await s.get(self.opts.url, self.kind, listing=True)
        if doc.state != "changed":
            return
        mapped = await parsed_listing(s, doc, lambda body: self.parse(body, s.slug, doc.url), self.errors)
        if mapped is not None:
            await s.emit_records(doc.url, mapped)


class JsonExportConnector(_ExportConnector):
    kind = "json"
    errors = (orjson.JSONDecodeError, ValueError)

    def parse(self, body: bytes, slug: str, url: str):
        return tabular.map_json_export(orjson.loads(body), slug, self.opts.records_path, self.opts.fields, url)


class CsvExportConnector(_ExportConnector):
    kind = "csv"
    errors = (ValueError, UnicodeDecodeError, LookupError)

    def parse(self, body: bytes, slug: str, url: str):
        return tabular.csv_records(body, slug, self.opts.fields, self.opts.delimiter, self.opts.encoding, url)


class SitemapConnector:
    MAX_DEPTH = 3

    def __init__(self, partner):
        self.opts = partner.options

    async def _collect(self, s: CrawlSession, url: str, depth: int, out: dict[str, str | None]) -> None:
        async def read(doc: Doc) -> list[dict] | None:
            parsed = await parsed_listing(s, doc, sitemap.parse_sitemap)
            if parsed is None:
                return None
            kind = "sitemap" if parsed.kind == "sitemapindex" else "page"
            return [{"url": e.loc, "kind": kind, "lastmod": e.lastmod.isoformat() if e.lastmod else None}
                    for e in parsed.entries]

        links = await listing_links(s, url, await s.get(url, "xml", listing=True), read)
        if links is None:
            return
        for link in links:
            if link["kind"] == "sitemap":
                if depth < self.MAX_DEPTH:
                    await self._collect(s, link["url"], depth + 1, out)
                else:
                    s.incomplete()
            elif link["url"] not in out and not url_skipped(s, self.opts, link["url"]):
                out[link["url"]] = link.get("lastmod")

    async def run(self, s: CrawlSession) -> None:
        pages: dict[str, str | None] = {}
        await self._collect(s, self.opts.url, 0, pages)
        for url, lastmod in pages.items():
            state = s.urls.get(url)
            modified = sitemap.parse_lastmod(lastmod)
            if modified and state and state.last_fetched and state.content_hash and modified <= state.last_fetched:
                s.skip(url)
                continue
            await read_page(s, await s.get(url, "html"), self.opts.page)


class SchemaOrgConnector:
    MAX_LISTING_PAGES = 200

    def __init__(self, partner):
        self.opts = partner.options

    async def run(self, s: CrawlSession) -> None:
        types = tuple(self.opts.types)
        await walk_listings(s, self.opts, lambda d: schemaorg.page_records(d.body, d.url, s.slug, types),
                            listing=bool(self.opts.link_selector), max_pages=self.MAX_LISTING_PAGES)


class FeedConnector:
    def __init__(self, partner):
        self.opts = partner.options

    async def run(self, s: CrawlSession) -> None:
        async def read(doc: Doc) -> list[dict] | None:
            entries = await parsed_listing(s, doc, feeds.parse_feed)
            if entries is None:
                return None
            if not self.opts.follow_links:
                await s.emit_records(doc.url, [feeds.entry_record(e, s.slug) for e in entries],
                                     page.PageFacts(doc.url, categories=[]))
                return None
            return [{"url": e.link, "kind": "page", "categories": e.categories} for e in entries if e.link]

        doc = await s.get(self.opts.url, "xml", listing=True)
        links = await listing_links(s, doc.url, doc, read)
        if links is None:
            return
        for link in links:
            if not url_skipped(s, self.opts, link["url"]):
                await read_page(s, await s.get(link["url"], "html"), self.opts.page, link.get("categories"))


class WordPressConnector:
    def __init__(self, partner):
        self.opts = partner.options

    async def _records(self, s: CrawlSession, doc: Doc) -> bool:
        def parse(body: bytes) -> tuple[Any, list[Mapped]]:
            posts = orjson.loads(body)
            return posts, wordpress.posts_records(posts, s.slug, self.opts.fields, self.opts.terms_as_themes)

        found = await parsed_listing(s, doc, parse, (orjson.JSONDecodeError, ValueError))
        if found is None:
            return False
        posts, mapped = found
        for post, m in zip(posts, mapped, strict=True):
            terms = wordpress.post_terms(post) if isinstance(post, dict) else []
            excluded = wordpress.term_matches(terms, self.opts.categories_exclude)
            if m.record is not None and (excluded or (self.opts.categories_include and not wordpress.term_matches(
                    terms, self.opts.categories_include))):
                why = f"category {excluded!r} excluded" if excluded else "no included category"
                s.outcome(Outcome(str(m.record.url), "skipped", "category", why, m.record.source_record_id,
                                  m.record.title))
                continue
            facts = page.PageFacts(str(m.record.url) if m.record else doc.url, size=len(orjson.dumps(post)),
                                   categories=terms)
            await s.emit_records(doc.url, [m], facts)
        return True

    async def run(self, s: CrawlSession) -> None:
        for post_type in self.opts.types:
            async def read(doc: Doc, post_type: str = post_type) -> list[dict] | None:
                if not await self._records(s, doc):
                    return None
                n = wordpress.total_pages(doc.response.headers)
                return [{"url": wordpress.page_url(self.opts.api_base, post_type, i, self.opts.per_page),
                         "kind": "next"} for i in range(2, n + 1)]

            first = wordpress.page_url(self.opts.api_base, post_type, 1, self.opts.per_page)
            links = await listing_links(s, first, await s.get(first, "json", listing=True), read)
            if links is None:
                continue
            for link in links:
                page = await s.get(link["url"], "json", listing=True)
                if page.state == "changed":
                    await self._records(s, page)


class _Auto:
    mode, types, selectors = "auto", ("Project", "Organization", "Event", "Place"), {}


PageExtractionAuto = _Auto()


class HtmlConnector:
    MAX_LISTING_PAGES = 200

    def __init__(self, partner):
        self.opts = partner.options

    async def run(self, s: CrawlSession) -> None:
        read = (page_reader(s, PageExtractionAuto) if not self.opts.selectors
                else lambda d: [html.detail_record(d.text, d.url, s.slug, self.opts.selectors)])
        await walk_listings(s, self.opts, read, listing=True, max_pages=self.MAX_LISTING_PAGES)


async def walk_listings(s: CrawlSession, opts, parse, *, listing: bool, max_pages: int) -> None:
    """From each start URL: a listing page's project links are read with ``parse``, following its
    next-page link (at most ``max_pages`` listing pages, never twice the same); without a link
    selector, the start page itself is the project page."""
    async def read(doc: Doc) -> list[dict] | None:  # the listing page at ``url``
        if not listing:
            await parse_page(s, doc, parse)
            return None
        text = doc.text
        nxt = html.next_page(text, url, opts.next_selector)
        links = [{"url": u, "kind": "page"} for u in html.links(text, url, opts.link_selector)]
        return links + ([{"url": nxt, "kind": "next"}] if nxt else [])

    for start in opts.start_urls:
        url, seen = start, set()
        while url and url not in seen and len(seen) < max_pages:
            seen.add(url)
            links = await listing_links(s, url, await s.get(url, "html", listing=listing), read)
            if links is None:
                break
            for link in links:
                if link["kind"] == "page" and not url_skipped(s, opts, link["url"]):
                    await parse_page(s, await s.get(link["url"], "html"), parse)
            url = next((lk["url"] for lk in links if lk["kind"] == "next"), None)


class LinksConnector:
    """Follows the site's links from the start URLs, breadth first, up to ``max_depth``: every page
    within the include/exclude patterns is fetched once at its smallest depth (whatever the order
    of the start URLs) and read like ``page.mode``; the record test sets aside the pages that are
    not projects (home, listings, about pages)."""

    def __init__(self, partner):
        self.opts = partner.options

    async def run(self, s: CrawlSession) -> None:
        read = page_reader(s, self.opts.page)
        frontier = sorted({str(u) for u in self.opts.start_urls})
        seen = set(frontier)
        for depth in range(self.opts.max_depth + 1):
            found: set[str] = set()
            for url in frontier:
                disallowed = s.stats.disallowed
                doc = await s.get(url, "html")
                if doc.state == "error" and s.stats.disallowed == disallowed and depth < self.opts.max_depth:
                    s.incomplete()  # its links are unknown (a page robots.txt disallows is not a loss)
                links = await listing_links(s, url, doc, _page_links(url))
                if links is None:
                    continue
                await parse_page(s, doc, read)  # a changed page's records, after its links are kept
                found.update(lk["url"] for lk in links if lk["url"] not in seen and self.opts.wanted(lk["url"]))
            seen |= found
            frontier = sorted(found)
            if not frontier:
                break


def _page_links(url: str) -> Callable[[Doc], Awaitable[list[dict]]]:
    async def read(doc: Doc) -> list[dict]:
        return [{"url": u, "kind": "page"} for u in page.page_facts(doc.body, url).links]
    return read


CONNECTORS = {
    "json_export": JsonExportConnector,
    "csv_export": CsvExportConnector,
    "sitemap": SitemapConnector,
    "schema_org": SchemaOrgConnector,
    "feed": FeedConnector,
    "wordpress": WordPressConnector,
    "html": HtmlConnector,
    "links": LinksConnector,
}


def connector_for(partner):
    return CONNECTORS[partner.connector](partner)
