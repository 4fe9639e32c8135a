"""Is this item a project? The record test, applied to every item before it is emitted. Pure.

An item is a project when it has a title, a description of a minimum length and at least one
place or theme signal (a place field, a theme or stage label, or theme words in its text per the
normalizer's keyword classifier). Before that, items that are something else are set aside,
each with its rule:

- ``oversize``: the document is over the partner's size cap (reports, catalogues);
- ``contact``: a contact, about, legal-notice or team page (its URL's last segment or its title);
- ``news``: a news item, blog post or agenda (schema.org type, category, or URL segment);
- ``listing``: a page made of repeated links without body text of its own (parsing/page.py);
- ``url_pattern``: the partner's include/exclude URL patterns;
- ``category``: the partner's category include/exclude (WordPress);
- ``too_short``, ``no_signal``: the record test itself.

The page-kind vocabularies are the usual names of these pages on French and English sites,
matched on folded words — not on any partner's wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from libs.contracts.events import PartnerRecord
from libs.contracts.search import fold
from services.crawler.parsing.page import PageFacts, is_listing

CONTACT_PAGES = frozenset({
    "contact", "contacts", "nous contacter", "contactez nous", "a propos", "qui sommes nous", "qui sommes-nous",
    "mentions legales", "equipe", "notre equipe", "l equipe", "faq", "plan du site", "about", "about us",
    "credits", "cgu", "conditions generales", "politique de confidentialite", "presentation",
    "nous rejoindre", "adherer", "adhesion", "partenaires", "nos partenaires", "legal", "imprint",
})
"""Folded last URL segment or title (or its start) of pages that present the site, not a project."""
NEWS_WORDS = frozenset({
    "actualite", "actualites", "actu", "actus", "news", "blog", "agenda", "breve", "breves", "communique",
    "communiques", "presse", "edito", "newsletter", "evenements a venir", "revue de presse", "lettre d info",
})
"""Folded category names or URL segments of news, blog and agenda items."""
NEWS_TYPES = frozenset({"NewsArticle", "BlogPosting", "Blog", "LiveBlogPosting", "Report", "PressRelease"})
PLACE_IN_TEXT = re.compile(r"\(\s*(?:\d{2}|2[AB]|9[78]\d)\s*\)|\b\d{5}\b")
"""A département in parentheses (``Saint-Aubin (35)``) or a postcode."""


@dataclass(frozen=True)
class RecordTest:
    min_description_chars: int = 40
    max_document_bytes: int = 1_000_000


@dataclass(frozen=True)
class Verdict:
    rule: str
    reason: str


def _segment(url: str) -> str:
    path = unquote(urlsplit(url).path).rstrip("/")
    last = path.rsplit("/", 1)[-1]
    return fold(re.sub(r"\.(s?html?|php|aspx?)$", "", last))


def _segments(url: str, base_url: str | None) -> list[str]:
    """The folders of a URL below the partner's base URL (a site living under ``/blog/`` is not news)."""
    path = unquote(urlsplit(url).path)
    base = unquote(urlsplit(base_url).path) if base_url else ""
    if base and path.startswith(base):
        path = path[len(base):]
    return [fold(s) for s in path.split("/") if s]


def contact_page(url: str, title: str | None) -> bool:
    if _segment(url) in CONTACT_PAGES:
        return True
    t = fold(title or "")
    return t in CONTACT_PAGES or any(t.startswith(k + " ") for k in CONTACT_PAGES if " " in k or len(k) > 6)


def news_item(url: str, facts: PageFacts | None, base_url: str | None = None) -> str | None:
    if facts is not None:
        kinds = facts.types & NEWS_TYPES
        if kinds:
            return f"schema.org type {min(kinds)}"
        for c in facts.categories:
            words = fold(c)
            if words in NEWS_WORDS or set(words.split()) & NEWS_WORDS:
                return f"category {c!r}"
    for seg in _segments(url, base_url)[:-1]:  # a folder, not the page's own name
        if seg in NEWS_WORDS:
            return f"URL folder {seg!r}"
    return None


def has_signal(record: PartnerRecord, theme_words: Callable[[str], bool] | None) -> bool:
    if record.commune or record.postcode or record.address or record.lat is not None or record.country:
        return True
    if record.themes or record.stage:
        return True
    text = f"{record.title}\n{record.description or ''}"
    if PLACE_IN_TEXT.search(text):
        return True
    return bool(theme_words and theme_words(text))


def page_verdict(url: str, title: str | None, facts: PageFacts | None, test: RecordTest,
                 base_url: str | None = None) -> Verdict | None:
    """The rules on the page itself (size, kind), whatever record it gives."""
    if facts is not None and facts.size > test.max_document_bytes:
        return Verdict("oversize", f"document of {facts.size} bytes, over the cap of {test.max_document_bytes}")
    if contact_page(url, title):
        return Verdict("contact", "a contact / about page (its URL or title)")
    news = news_item(url, facts, base_url)
    if news:
        return Verdict("news", f"a news or agenda item ({news})")
    if facts is not None and is_listing(facts):
        return Verdict("listing", f"a listing page ({facts.link_items} link items, no body text)")
    return None


def verdict(record: PartnerRecord, facts: PageFacts | None, test: RecordTest,
            theme_words: Callable[[str], bool] | None = None, base_url: str | None = None) -> Verdict | None:
    """None when the item is a project; else the rule that set it aside and why."""
    url = facts.url if facts is not None else str(record.url)
    aside = page_verdict(url, record.title, facts, test, base_url)
    if aside is not None:
        return aside
    length = len((record.description or "").strip())
    if length < test.min_description_chars:
        return Verdict("too_short", f"description of {length} characters, under {test.min_description_chars}")
    if not has_signal(record, theme_words):
        return Verdict("no_signal", "no place and no theme")
    return None
