"""Plain HTML listings and detail pages with per-partner CSS/XPath selectors (parsel).

A selector is CSS unless it starts with ``xpath:``; CSS may end in ``::text`` or ``::attr(x)``.
Without them the element's whole visible text is taken.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from parsel import Selector

from services.crawler.domain import Mapped, put_field
from services.crawler.parsing.common import (
    build_record,
    clean_url,
    html_to_text,
    record_id_for_url,
    split_labels,
    to_date,
    to_float,
    truncate,
)

LIST_FIELDS = {"themes", "engineering"}


def _select(sel: Selector, selector: str):
    if selector.startswith("xpath:"):
        return sel.xpath(selector[6:])
    return sel.css(selector.removeprefix("css:"))


def _values(sel: Selector, selector: str) -> list[str]:
    out = []
    for node in _select(sel, selector):
        root = node.root
        if isinstance(root, str):  # ::text, ::attr(), xpath text() or @attr
            value = root
        else:
            value = node.xpath("string()").get() or ""
        value = html_to_text(value) or ""
        if value:
            out.append(value)
    return out


def links(body: str, url: str, selector: str) -> list[str]:
    """Absolute URLs of the links a selector picks (``a`` elements or ``::attr(href)``), in order."""
    sel = Selector(text=body, base_url=url)
    found = []
    for node in _select(sel, selector):
        href = node.root if isinstance(node.root, str) else node.attrib.get("href")
        if href and not href.strip().lower().startswith(("javascript:", "mailto:", "tel:", "data:")):
            found.append(clean_url(urljoin(url, href.strip())))
    return list(dict.fromkeys(found))


def next_page(body: str, url: str, selector: str | None) -> str | None:
    if not selector:
        return None
    found = links(body, url, selector)
    return found[0] if found and found[0] != clean_url(url) else None


def detail_fields(body: str, url: str, selectors: dict[str, str]) -> dict[str, Any]:
    sel = Selector(text=body, base_url=url)
    data: dict[str, Any] = {}
    for target, selector in selectors.items():
        values = _values(sel, selector)
        if target in LIST_FIELDS:
            value: Any = [truncate(v, 100) for label in values for v in split_labels(label)][:30]
        elif not values:
            continue
        elif target in ("lat", "lon"):
            value = to_float(values[0])
        elif target in ("published_at", "updated_at"):
            value = to_date(values[0])
        elif target == "description":
            value = truncate("\n".join(values), 20_000)
        elif target == "url":
            value = clean_url(urljoin(url, values[0]))
        else:
            value = values[0]
        put_field(data, target, value)
    return data


def detail_record(body: str, url: str, source: str, selectors: dict[str, str]) -> Mapped:
    data = detail_fields(body, url, selectors)
    data.setdefault("url", clean_url(url))
    data.setdefault("source_record_id", record_id_for_url(url))
    data["title"] = truncate(data.get("title") or "", 300)
    return build_record({"url": url}, source, data)
