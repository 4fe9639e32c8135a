"""A plain web page read without selectors, and the facts that tell a project page from others.

``page_facts``: size, schema.org types, whether the page is a listing (repeated link items and
no body text of its own). ``generic_record``: title (``h1``, else ``og:title``, else ``<title>``),
description (the main content's text without its labelled lines), and every ``label : value``
line (parsing/labels.py) — each field with where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import html as lxml_html

from services.crawler.domain import Mapped, put_field
from services.crawler.parsing.common import (
    build_record,
    clean_url,
    decode_text,
    element_text,
    record_id_for_url,
    truncate,
)
from services.crawler.parsing.labels import label_fields

CHROME = "//nav|//header|//footer|//aside|//*[@role='navigation']|//*[@role='banner']|//*[@role='contentinfo']"
LIST_ITEMS = ".//li|.//article|.//tr"
MIN_LIST_ITEMS = 3
BODY_PARAGRAPH = 80
"""A paragraph at least this long (characters, outside links) is body text: the page is not a bare listing."""


@dataclass
class PageFacts:
    url: str
    size: int = 0
    types: set[str] = field(default_factory=set)
    """schema.org types found in the page (filled by the schema.org reader)."""
    link_items: int = 0
    """List items / cards / rows of the main content holding a link to another page of the site."""
    body_paragraph: bool = False
    categories: list[str] = field(default_factory=list)
    """Categories a feed or the WordPress API gives the item."""
    links: list[str] = field(default_factory=list)
    """Every same-site link of the page (absolute, in document order): what a link crawl follows."""


def parse_html(text: str):
    try:
        return lxml_html.document_fromstring(text or "<html></html>")
    except Exception:  # noqa: BLE001 — lxml raises several types on broken markup
        return lxml_html.document_fromstring("<html></html>")


def _main(doc):
    for xp in ("//main", "//*[@role='main']", "//article"):
        found = doc.xpath(xp)
        if found:
            return found[0]
    body = doc.find("body")
    return body if body is not None else doc


def page_facts(body: bytes | str, url: str) -> PageFacts:
    text = decode_text(body) if isinstance(body, bytes) else body
    doc = parse_html(text)
    facts = PageFacts(url, size=len(body))
    host = urlsplit(url).netloc
    for a in doc.xpath("//a[@href]"):
        href = clean_url(urljoin(url, a.get("href", "").strip()))
        if urlsplit(href).netloc == host and href != clean_url(url) and href.startswith(("http://", "https://")):
            facts.links.append(href)
    facts.links = list(dict.fromkeys(facts.links))
    for bad in doc.xpath(CHROME):
        bad.drop_tree()
    main = _main(doc)
    for item in main.xpath(LIST_ITEMS):
        if any(urlsplit(clean_url(urljoin(url, a.get("href", "")))).netloc == host for a in item.xpath(".//a[@href]")):
            facts.link_items += 1
    for p in main.xpath(".//p|.//dd|.//td"):
        linked = sum(len(a.text_content()) for a in p.xpath(".//a"))
        if len(p.text_content().strip()) - linked >= BODY_PARAGRAPH:
            facts.body_paragraph = True
            break
    return facts


def is_listing(facts: PageFacts) -> bool:
    """Repeated link items and no paragraph of its own, or schema.org says so."""
    if facts.types & {"ItemList", "CollectionPage", "SearchResultsPage"} and not facts.body_paragraph:
        return True
    return facts.link_items >= MIN_LIST_ITEMS and not facts.body_paragraph


def _title(doc) -> tuple[str | None, str]:
    for xp, source in (("//h1", "h1"), ("//meta[@property='og:title']/@content", "og:title"),
                       ("//title", "title")):
        found = doc.xpath(xp)
        if found:
            value = found[0] if isinstance(found[0], str) else element_text(found[0])
            value = " ".join(value.split())
            if value:
                return value, source
    return None, ""


def generic_fields(body: bytes | str, url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Platform fields of a plain page and, per field, where it came from."""
    text = decode_text(body) if isinstance(body, bytes) else body
    doc = parse_html(text)
    title, title_source = _title(doc)
    for bad in doc.xpath(CHROME):
        bad.drop_tree()
    main = _main(doc)
    for h1 in main.xpath(".//h1"):
        h1.drop_tree()
    lines = element_text(main, lines=True)
    labelled, used = label_fields(lines)
    body_lines = [ln for i, ln in enumerate(lines.splitlines()) if i not in used]
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for target, value in labelled.items():
        put_field(data, target, value)
        sources[target] = "label line"
    data["title"] = truncate(title or "", 300)
    sources["title"] = title_source
    description = "\n".join(body_lines).strip()
    if description:
        data["description"] = truncate(description, 20_000)
        sources["description"] = "page text"
    return data, sources


def generic_record(body: bytes | str, url: str, source: str) -> Mapped:
    data, sources = generic_fields(body, url)
    data.setdefault("url", clean_url(url))
    data.setdefault("source_record_id", record_id_for_url(url))
    sources.setdefault("url", "page URL")
    m = build_record({"url": url}, source, data)
    return Mapped(m.raw, m.record, m.error, m.raw_id, sources=sources)
