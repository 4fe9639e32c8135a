"""Pure normalisation: text cleaning and taxonomy mapping. No I/O beyond reading its data file."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from functools import lru_cache

import ftfy
import nh3
import orjson

from libs.contracts.events import Contact, NormalizedProject, PartnerRecord
from libs.contracts.search import fold
from services.normalizer.classifier import Classified, classify  # noqa: F401  (re-exported)
from services.normalizer.classifier import preload as _preload_tables
from services.normalizer.contacts import normalize_email, normalize_phone
from services.normalizer.language import SAMPLE_CHARS as LANGUAGE_SAMPLE_CHARS
from services.normalizer.language import detect as detect_language
from services.normalizer.language import preload as _preload_language

SUMMARY_CHARS = 300
_WS = re.compile(r"[ \t\u00a0\u200b]{2,}|[\t\u00a0\u200b]")
"""Runs of spaces, tabs, no-break and zero-width spaces (a single plain space is left alone)."""
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BLOCK_TAGS = re.compile(r"</?(p|br|div|li|ul|ol|h[1-6]|tr|section|article)\b[^>]*>", re.IGNORECASE)


_MAX_CLEAN_PASSES = 4
_MARKUP = re.compile(r"<|&[#A-Za-z0-9]")
"""A tag, or something html.unescape could turn into text ("&amp", "&#39;"); a bare "& " is neither."""


_NEEDS_FTFY = re.compile(
    # A UTF-8 lead byte read as Latin-1/cp1252 ("Ã", "Â", "â"…) followed by a continuation byte read
    # the same way ("©", "€", "™"…): the signature of every UTF-8 → Latin-1/cp1252 mojibake.
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
    "|[\uff00-\uffef\ufb00-\ufb06\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffd]"
)
"""Text in which ftfy has something to repair (mojibake, full-width forms, ligatures, control
characters). ftfy costs ~100 µs on a paragraph; most partner text is already clean."""
_ASCII_NEEDS_FTFY = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]")
"""The part of ``_NEEDS_FTFY`` an ASCII text can match."""

_NUMERIC_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,8}))")


def _fix_unicode(text: str) -> str:
    # mojibake; also full-width "＜" in markup-free text; otherwise only NFC, as ftfy would do.
    if text.isascii():  # NFC changes nothing in ASCII
        return ftfy.fix_text(text) if _ASCII_NEEDS_FTFY.search(text) else text
    return ftfy.fix_text(text) if _NEEDS_FTFY.search(text) else unicodedata.normalize("NFC", text)


def _plain_references(text: str) -> bool:
    """Every numeric character reference in the text names a printable character (or tab/newline):
    html.unescape and the HTML parser in nh3 then decode the text identically."""
    if "&#" not in text:
        return True
    for m in _NUMERIC_REF.finditer(text):
        hexa, dec = m.groups()
        cp = int(hexa, 16) if hexa else int(dec)
        if not (cp in (9, 10) or 0x20 <= cp <= 0x7E or 0xA0 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFDCF
                or 0xFDF0 <= cp <= 0xFFFD or (0x10000 <= cp <= 0x10FFFF and cp & 0xFFFE != 0xFFFE)):
            return False
    return True


def _clean_pass(text: str, fixed: bool = False) -> str:
    """One pass: Unicode repaired (unless ``fixed``: already done), block tags to line breaks, markup
    stripped by nh3, entities decoded."""
    if not fixed:
        text = _fix_unicode(text)
    text = _BLOCK_TAGS.sub("\n", text)
    if "<" not in text and "\x00" not in text and _plain_references(text):
        # No tag left (paragraphs and line breaks were the only markup, as in most partner text):
        # nh3 would only decode the entities, re-escape &, < and >, and turn CR/CRLF into LF,
        # which html.unescape undoes. Same text as the nh3 road (tests compare both), ~10× cheaper.
        return html.unescape(text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text)
    text = nh3.clean(text, tags=set(), strip_comments=True)
    return html.unescape(text)  # nh3 re-escapes the text it keeps


SHORT_TEXT_CHARS = 120
"""Labels, communes, countries, holder names: short strings that repeat from record to record,
cleaned once (cache) — descriptions and most titles are longer or unique."""


def clean_text(text: str | None) -> str:
    """Markup stripped safely (nh3), entities decoded, mojibake repaired (ftfy), spaces fixed.

    Partners sometimes escape their markup (``&lt;p&gt;``), even twice: passes repeat until
    nothing changes, so decoding entities never lets markup through.
    """
    if not text:
        return ""
    if len(text) <= SHORT_TEXT_CHARS:
        return _clean_short(text)
    return _clean(text)


def _clean(text: str) -> str:
    fixed = False
    if not text.isascii():
        repaired = _fix_unicode(text)
        fixed = repaired == text  # _fix_unicode is pure: a fixed point stays fixed, no second call
        text = repaired
    if _MARKUP.search(text):  # markup or entities: nh3, unescape, repeat until stable
        text = _clean_passes(text, fixed)
    if "\n" not in text and "\r" not in text and text.isprintable():
        return _WS.sub(" ", text).strip()  # one line (titles, places, labels)
    lines = [line.strip() for line in _WS.sub(" ", text).splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


_clean_short = lru_cache(maxsize=20_000)(_clean)


def _clean_passes(text: str, fixed: bool = False) -> str:
    for _ in range(_MAX_CLEAN_PASSES):
        cleaned = _clean_pass(text, fixed)
        fixed = False
        if cleaned == text or not _MARKUP.search(cleaned):
            return cleaned  # no markup or entity left: another pass would change nothing
        text = cleaned
    # escaped deeper than any partner does: keep the rest escaped rather than risk markup
    return nh3.clean(text, tags=set(), strip_comments=True)


def summarize(text: str, limit: int = SUMMARY_CHARS) -> str:
    # Flattening a prefix gives a prefix of the flattened text: when it is already longer than the
    # limit, the rest of a long description need not be split.
    head = text[:limit * 2]
    flat = " ".join(head.split())
    if len(flat) <= limit and len(head) < len(text):
        flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


FACETS = ("theme", "stage", "engineering", "holder_type")


def preload() -> None:
    """Load the data files and language models now (service start-up) rather than on the first
    records: the taxonomy tables of every partner (~20 ms) and lingua's models (~0.3 s)."""
    _preload_tables()
    _preload_language()
MAX_REPLACEMENT_RATIO = 0.1
"""Above this share of U+FFFD / control characters, a title or description is binary garbage."""


def _contact(record: PartnerRecord, warnings: list[str]) -> Contact | None:
    c = record.contact
    if c is None:
        return None
    email, why = normalize_email(c.email)
    if why:
        warnings.append(why)
    phone, why = normalize_phone(c.phone)
    if why:
        warnings.append(why)
    if not (email or phone or c.website):
        return None
    return Contact(email=email, phone=phone, website=c.website)


def normalize(record: PartnerRecord) -> NormalizedProject:
    description = clean_text(record.description)
    title = clean_text(record.title)
    text = f"{title}\n{description}"
    src = record.source
    holder = record.holder
    results = {
        "theme": classify("theme", record.themes, text, source=src),
        "stage": classify("stage", [record.stage] if record.stage else [], multi=False, source=src),
        "engineering": classify("engineering", record.engineering, source=src),
        "holder_type": classify("holder_type", [holder.kind] if holder and holder.kind else [], multi=False, source=src),
    }
    asked = {"theme": True, "stage": bool(record.stage), "engineering": bool(record.engineering),
             "holder_type": bool(holder and holder.kind)}
    warnings: list[str] = []
    contact = _contact(record, warnings)
    language, language_confidence = detect_language(f"{title}. {description[:LANGUAGE_SAMPLE_CHARS]}")
    fields = {
        "source": record.source,
        "source_record_id": record.source_record_id,
        "url": record.url,
        "title": title,
        "summary": summarize(description),
        "description": description,
        "language": language,
        "language_confidence": language_confidence,
        "address": clean_text(record.address) or None,
        "commune": clean_text(record.commune) or None,
        "postcode": (record.postcode or "").replace(" ", "") or None,
        "country": clean_text(record.country) or None,
        "lat": record.lat,
        "lon": record.lon,
        "themes": results["theme"].slugs,
        "themes_raw": [clean_text(t) for t in record.themes],
        "stage": results["stage"].slugs[0] if results["stage"].slugs else None,
        "engineering": results["engineering"].slugs,
        "holder_name": clean_text(holder.name) if holder and holder.name else None,
        "holder_type": results["holder_type"].slugs[0] if results["holder_type"].slugs else None,
        "contact": contact,
        "published_at": record.published_at,
        "updated_at": record.updated_at,
        "taxonomy_confidence": {f: r.confidence for f, r in results.items() if r.slugs},
        "unclassified": [f for f in FACETS if asked[f] and not results[f].slugs],
        "warnings": warnings,
    }
    digest = hashlib.sha256(orjson.dumps(fields, default=_default, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return NormalizedProject(**fields, content_hash=digest)


def _default(obj):
    if isinstance(obj, Contact):
        return obj.__dict__  # its three validated strings, as model_dump(mode="json") gives them, cheaper
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return str(obj)


class EmptyTitle(ValueError):
    pass


_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")


def _garbage_ratio(text: str) -> float:
    if not text:
        return 0.0
    if "\ufffd" not in text and text.replace("\n", " ").replace("\t", " ").isprintable():
        return 0.0  # no character of Cc, Co, Cs or Cn (all non-printable) but newlines and tabs
    bad = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Co", "Cs", "Cn") and ch not in "\n\t"))
    return bad / len(text)


def check(project: NormalizedProject) -> str | None:
    """A reason to reject a normalized project, or None when it is acceptable."""
    # an ASCII letter or digit survives folding (fold is only needed to judge the other titles)
    if not project.title or not (_ASCII_ALNUM.search(project.title) or fold(project.title)):
        return "title is empty once markup and punctuation are removed"
    if _garbage_ratio(project.title) > MAX_REPLACEMENT_RATIO:
        return "title is garbage: more than 10% undecodable or control characters"
    if _garbage_ratio(project.description) > MAX_REPLACEMENT_RATIO:
        return "description is garbage: more than 10% undecodable or control characters"
    return None
