"""WordPress REST API (``/wp-json/wp/v2/<type>``): page URLs, page count, posts → records."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from services.crawler.domain import Mapped, dig, put_field
from services.crawler.parsing.common import (
    COERCED_FIELDS,
    build_record,
    coerce_field,
    html_to_text,
    truncate,
)

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
    return f"{base}{post_type}?" + urlencode({"per_page": per_page, "page": page, "orderby": "id", "order": "asc"})


def total_pages(headers: dict[str, str]) -> int:
    """X-WP-TotalPages (1 when absent or unreadable, capped at 1000)."""
    try:
        return max(1, min(int(headers.get("x-wp-totalpages", "1")), 1000))
    except ValueError:
        return 1


def post_record(post: Any, source: str, fields: dict[str, str] | None = None) -> Mapped:
    if not isinstance(post, dict):
        return Mapped(post, error=f"record must be an object, got {type(post).__name__}")
    mapping = {**WP_FIELDS, **(fields or {})}
    data: dict[str, Any] = {}
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
        put_field(data, target, value)
    return build_record(post, source, data)


def posts_records(document: Any, source: str, fields: dict[str, str] | None = None) -> list[Mapped]:
    if not isinstance(document, list):
        raise ValueError("a WordPress collection must be a JSON array")  # noqa: TRY004 — a bad document
    return [post_record(p, source, fields) for p in document]
