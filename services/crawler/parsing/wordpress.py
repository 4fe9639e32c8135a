"""WordPress REST API (``/wp-json/wp/v2/<type>``): page URLs, page count, posts → records."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from libs.contracts.search import fold
from services.crawler.domain import Mapped, dig, put_field
from services.crawler.parsing.common import (
    COERCED_FIELDS,
    build_record,
    coerce_field,
    html_to_text,
    truncate,
)
from services.crawler.parsing.labels import label_fields

WP_FIELDS: dict[str, str] = {
    "source_record_id": "id",
    "url": "link",
    "title": "title.rendered",
    "description": "content.rendered",
    "published_at": "date",
    "updated_at": "modified",
}
"""Platform field → dotted path in a WordPress post; custom fields (``acf.commune``...) by config."""

HTML_FIELDS = {"title", "description", "address", "commune", "holder.name"}


def page_url(api_base: str, post_type: str, page: int, per_page: int = 100) -> str:
    base = api_base if api_base.endswith("/") else api_base + "/"
    return f"{base}{post_type}?" + urlencode({"per_page": per_page, "page": page, "orderby": "id", "order": "asc",
                                              "_embed": "wp:term"})


def total_pages(headers: dict[str, str]) -> int:
    """X-WP-TotalPages (1 when absent or unreadable, capped at 1000)."""
    try:
        return max(1, min(int(headers.get("x-wp-totalpages", "1")), 1000))
    except ValueError:
        return 1


def post_terms(post: dict) -> list[str]:
    """The post's category and tag names (``_embedded["wp:term"]``, present with ``_embed``), else the
    ``category-…`` / ``tag-…`` slugs of its ``class_list`` (WordPress 6.5+) written as words."""
    names: list[str] = []
    for group in dig(post, "_embedded.wp:term") or []:
        for term in group if isinstance(group, list) else []:
            if isinstance(term, dict) and isinstance(term.get("name"), str) and term.get("taxonomy") != "author":
                names.append(html_to_text(term["name"]) or "")
    if not names:
        for cls in post.get("class_list") or []:
            if isinstance(cls, str) and cls.startswith(("category-", "tag-")):
                names.append(cls.split("-", 1)[1].replace("-", " "))
    return [n for n in dict.fromkeys(names) if n]


def term_matches(terms: list[str], wanted: list[str]) -> str | None:
    """The first term whose folded name or slug is one of ``wanted`` (folded)."""
    keys = {fold(w) for w in wanted}
    return next((t for t in terms if fold(t) in keys), None)


def post_record(post: Any, source: str, fields: dict[str, str] | None = None, terms_as_themes: bool = True) -> Mapped:
    if not isinstance(post, dict):
        return Mapped(post, error=f"record must be an object, got {type(post).__name__}")
    mapping = {**WP_FIELDS, **(fields or {})}
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for target, path in mapping.items():
        value = dig(post, path)
        if target in HTML_FIELDS and isinstance(value, str):
            value = html_to_text(value)
        if target in COERCED_FIELDS:
            value = coerce_field(target, value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if target == "title":
            value = truncate(value or "", 300)
        elif target == "description":
            value = truncate(value, 20_000)
        if value not in (None, "", []):
            sources[target] = f"post {path}"
        put_field(data, target, value)
    content = dig(post, "content.rendered")
    labelled, _ = label_fields(html_to_text(content, lines=True) if isinstance(content, str) else None)
    for target, value in labelled.items():
        head, _, tail = target.partition(".")
        present = data.get(head, {}).get(tail) if tail and isinstance(data.get(head), dict) else data.get(target)
        if present in (None, "", []):
            put_field(data, target, value)
            sources[target] = "label line in the content"
    if terms_as_themes:
        terms = post_terms(post)
        if terms:
            data["themes"] = [truncate(t, 100) for t in [*(data.get("themes") or []), *terms]][:30]
            sources["themes"] = "post categories and tags" + (" + " + sources["themes"] if "themes" in sources else "")
    m = build_record(post, source, data)
    return Mapped(m.raw, m.record, m.error, m.raw_id, sources=sources)


def posts_records(document: Any, source: str, fields: dict[str, str] | None = None,
                  terms_as_themes: bool = True) -> list[Mapped]:
    if not isinstance(document, list):
        raise ValueError("a WordPress collection must be a JSON array")  # noqa: TRY004 — a bad document
    return [post_record(p, source, fields, terms_as_themes) for p in document]
