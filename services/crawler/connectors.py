"""One connector per publishing shape. Each decides what to fetch and which pure parser reads it;
the CrawlSession (crawl.py) fetches, diffs and emits."""

from __future__ import annotations

import re

import orjson

from services.crawler import domain
from services.crawler.crawl import CrawlSession, Doc
from services.crawler.parsing import feeds, html, schemaorg, sitemap, tabular, wordpress


async def parse_page(s: CrawlSession, doc: Doc, parse) -> None:
    """Emit a changed page's records; a parser failure on one page is that page's error, not the crawl's."""
    if doc.state != "changed":
        return
    try:
        mapped = parse(doc)
    except Exception as exc:  # noqa: BLE001 — an unexpected parser failure must not stop the partner's crawl
        await s.unreadable(doc, f"{type(exc).__name__}: {exc}", listing=False)
        return
    await s.emit_records(doc.url, mapped)


async def read_page(s: CrawlSession, doc: Doc, page) -> None:
    """A project page, read per the partner's PageExtraction (schema.org items or selectors)."""
    if page.mode == "selectors":
        await parse_page(s, doc, lambda d: [html.detail_record(d.text, d.url, s.slug, page.selectors)])
    else:
        await parse_page(s, doc, lambda d: schemaorg.page_records(d.body, d.url, s.slug, tuple(page.types)))


class _ExportConnector:
    """One export document (the complete listing of a partner's records) read by ``parse``."""

    kind = ""
    errors: tuple[type[Exception], ...] = (ValueError,)

    def __init__(self, partner):
        self.opts = partner.options

    def parse(self, body: bytes, slug: str):
        raise NotImplementedError

    async def run(self, s: CrawlSession) -> None:
        doc = await s.get(self.opts.url, self.kind, listing=True)
        if doc.state != "changed":
            return
        try:
            mapped = self.parse(doc.body, s.slug)
        except self.errors as exc:
            await s.unreadable(doc, str(exc), listing=True)
            return
        await s.emit_records(doc.url, mapped)


class JsonExportConnector(_ExportConnector):
    kind = "json"
    errors = (orjson.JSONDecodeError, ValueError)

    def parse(self, body: bytes, slug: str):
        return domain.map_json_export(orjson.loads(body), slug, self.opts.records_path, self.opts.fields)


class CsvExportConnector(_ExportConnector):
    kind = "csv"
    errors = (ValueError, UnicodeDecodeError, LookupError)

    def parse(self, body: bytes, slug: str):
        return tabular.csv_records(body, slug, self.opts.fields, self.opts.delimiter, self.opts.encoding)


class SitemapConnector:
    MAX_DEPTH = 3

    def __init__(self, partner):
        self.opts = partner.options
        self.include = [re.compile(p) for p in self.opts.include]
        self.exclude = [re.compile(p) for p in self.opts.exclude]

    def wanted(self, url: str) -> bool:
        if self.include and not any(p.search(url) for p in self.include):
            return False
        return not any(p.search(url) for p in self.exclude)

    async def _collect(self, s: CrawlSession, url: str, depth: int, out: dict[str, str | None]) -> None:
        doc = await s.get(url, "xml", listing=True)
        if doc.state == "changed":
            try:
                parsed = sitemap.parse_sitemap(doc.body)
            except ValueError as exc:
                await s.unreadable(doc, str(exc), listing=True)
                return
            kind = "sitemap" if parsed.kind == "sitemapindex" else "page"
            links = [{"url": e.loc, "kind": kind, "lastmod": e.lastmod.isoformat() if e.lastmod else None}
                     for e in parsed.entries]
            s.set_links(url, links)
        elif doc.state == "unchanged":
            links = doc.links
        else:
            return
        for link in links:
            if link["kind"] == "sitemap":
                if depth < self.MAX_DEPTH:
                    await self._collect(s, link["url"], depth + 1, out)
                else:
                    s.incomplete()
            elif self.wanted(link["url"]):
                out.setdefault(link["url"], link.get("lastmod"))

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
        doc = await s.get(self.opts.url, "xml", listing=True)
        if doc.state == "changed":
            try:
                entries = feeds.parse_feed(doc.body)
            except ValueError as exc:
                await s.unreadable(doc, str(exc), listing=True)
                return
            if not self.opts.follow_links:
                await s.emit_records(doc.url, [feeds.entry_record(e, s.slug) for e in entries])
                return
            links = [{"url": e.link, "kind": "page"} for e in entries if e.link]
            s.set_links(doc.url, links)
        elif doc.state == "unchanged":
            links = doc.links
        else:
            return
        for link in links:
            await read_page(s, await s.get(link["url"], "html"), self.opts.page)


class WordPressConnector:
    def __init__(self, partner):
        self.opts = partner.options

    async def _records(self, s: CrawlSession, doc: Doc) -> bool:
        try:
            mapped = wordpress.posts_records(orjson.loads(doc.body), s.slug, self.opts.fields)
        except (orjson.JSONDecodeError, ValueError) as exc:
            await s.unreadable(doc, str(exc), listing=True)
            return False
        await s.emit_records(doc.url, mapped)
        return True

    async def run(self, s: CrawlSession) -> None:
        for post_type in self.opts.types:
            first = wordpress.page_url(self.opts.api_base, post_type, 1, self.opts.per_page)
            doc = await s.get(first, "json", listing=True)
            if doc.state == "changed":
                if not await self._records(s, doc):
                    continue
                n = wordpress.total_pages(doc.response.headers)
                links = [{"url": wordpress.page_url(self.opts.api_base, post_type, i, self.opts.per_page),
                          "kind": "next"} for i in range(2, n + 1)]
                s.set_links(first, links)
            elif doc.state == "unchanged":
                links = doc.links
            else:
                continue
            for link in links:
                page = await s.get(link["url"], "json", listing=True)
                if page.state == "changed":
                    await self._records(s, page)


class HtmlConnector:
    MAX_LISTING_PAGES = 200

    def __init__(self, partner):
        self.opts = partner.options

    async def run(self, s: CrawlSession) -> None:
        await walk_listings(s, self.opts, lambda d: [html.detail_record(d.text, d.url, s.slug, self.opts.selectors)],
                            listing=True, max_pages=self.MAX_LISTING_PAGES)


async def walk_listings(s: CrawlSession, opts, parse, *, listing: bool, max_pages: int) -> None:
    """From each start URL: a listing page's project links are read with ``parse``, following its
    next-page link (at most ``max_pages`` listing pages, never twice the same); without a link
    selector, the start page itself is the project page."""
    for start in opts.start_urls:
        url, seen = start, set()
        while url and url not in seen and len(seen) < max_pages:
            seen.add(url)
            doc = await s.get(url, "html", listing=listing)
            if doc.state == "changed":
                if not listing:
                    await parse_page(s, doc, parse)
                    break
                text = doc.text
                nxt = html.next_page(text, url, opts.next_selector)
                links = [{"url": u, "kind": "page"} for u in html.links(text, url, opts.link_selector)]
                links += [{"url": nxt, "kind": "next"}] if nxt else []
                s.set_links(url, links)
            elif doc.state == "unchanged":
                links = doc.links
            else:
                break
            for link in links:
                if link["kind"] == "page":
                    page = await s.get(link["url"], "html")
                    await parse_page(s, page, parse)
            url = next((lk["url"] for lk in links if lk["kind"] == "next"), None)


CONNECTORS = {
    "json_export": JsonExportConnector,
    "csv_export": CsvExportConnector,
    "sitemap": SitemapConnector,
    "schema_org": SchemaOrgConnector,
    "feed": FeedConnector,
    "wordpress": WordPressConnector,
    "html": HtmlConnector,
}


def connector_for(partner):
    return CONNECTORS[partner.connector](partner)
