"""Pure normalisation: text cleaning and taxonomy mapping. No I/O beyond reading its data file."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ftfy
import nh3
import orjson
import yaml

from libs.contracts.events import NormalizedProject, PartnerRecord
from libs.contracts.search import fold
from libs.contracts.taxonomy import taxonomy

SUMMARY_CHARS = 300
_WS = re.compile(r"[ \t\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BLOCK_TAGS = re.compile(r"</?(p|br|div|li|ul|ol|h[1-6]|tr|section|article)\b[^>]*>", re.I)


_MAX_CLEAN_PASSES = 4


def _clean_pass(text: str) -> str:
    text = ftfy.fix_text(text)  # mojibake; also decodes entities and full-width "＜" in markup-free text
    text = nh3.clean(_BLOCK_TAGS.sub("\n", text), tags=set(), strip_comments=True)
    return html.unescape(text)  # nh3 re-escapes the text it keeps


def clean_text(text: str | None) -> str:
    """Markup stripped safely (nh3), entities decoded, mojibake repaired (ftfy), spaces fixed.

    Partners sometimes escape their markup (``&lt;p&gt;``), even twice: passes repeat until
    nothing changes, so decoding entities never lets markup through.
    """
    if not text:
        return ""
    for _ in range(_MAX_CLEAN_PASSES):
        cleaned = _clean_pass(text)
        if cleaned == text:
            break
        text = cleaned
    else:  # escaped deeper than any partner does: keep the rest escaped rather than risk markup
        text = nh3.clean(text, tags=set(), strip_comments=True)
    lines = [_WS.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def summarize(text: str, limit: int = SUMMARY_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


@lru_cache(maxsize=1)
def _keywords() -> dict[str, dict[str, list[re.Pattern]]]:
    data = yaml.safe_load((Path(__file__).parent / "data" / "keywords.yaml").read_text(encoding="utf-8"))
    tax = taxonomy()
    out: dict[str, dict[str, list[re.Pattern]]] = {}
    for facet, by_slug in data.items():
        unknown = set(by_slug) - tax.slugs(facet)
        if unknown:
            raise ValueError(f"keywords.yaml: unknown {facet} slugs {sorted(unknown)}")
        out[facet] = {slug: [re.compile(r"\b" + re.escape(fold(k))) for k in kws] for slug, kws in by_slug.items()}
    return out


@dataclass(frozen=True)
class Classified:
    slugs: list[str]
    confidence: float  # 1.0 from the partner's own labels, 0.5 from free text, 0 when unclassified


def classify(facet: str, labels: list[str], text: str = "", multi: bool = True) -> Classified:
    """Map labels onto ``facet`` slugs; fall back to free text; say when nothing matched."""
    patterns = _keywords()[facet]

    def hits(s: str) -> dict[str, int]:
        folded = fold(s)
        counts = {slug: sum(1 for p in pats if p.search(folded)) for slug, pats in patterns.items()}
        return {k: v for k, v in counts.items() if v}

    for source, confidence in ((" | ".join(labels), 1.0), (text, 0.5)):
        if not source.strip():
            continue
        found = hits(source) if confidence == 1.0 else {
            k: v for k, v in hits(source).items() if v >= (1 if len(source) < 200 else 2)
        }
        if found:
            ranked = sorted(found, key=lambda s: (-found[s], s))
            order = [t.slug for t in taxonomy().terms(facet)]
            chosen = ranked if multi else ranked[:1]
            return Classified(sorted(chosen, key=order.index), confidence)
    return Classified([], 0.0)


def normalize(record: PartnerRecord) -> NormalizedProject:
    description = clean_text(record.description)
    title = clean_text(record.title)
    text = f"{title}\n{description}"
    themes = classify("theme", record.themes, text)
    stage = classify("stage", [record.stage] if record.stage else [], multi=False)
    engineering = classify("engineering", record.engineering)
    holder = record.holder
    holder_type = classify("holder_type", [holder.kind] if holder and holder.kind else [], multi=False)
    fields = dict(
        source=record.source,
        source_record_id=record.source_record_id,
        url=record.url,
        title=title,
        summary=summarize(description),
        description=description,
        language="fr",
        address=clean_text(record.address) or None,
        commune=clean_text(record.commune) or None,
        postcode=(record.postcode or "").replace(" ", "") or None,
        country=clean_text(record.country) or None,
        lat=record.lat,
        lon=record.lon,
        themes=themes.slugs,
        themes_raw=[clean_text(t) for t in record.themes],
        stage=stage.slugs[0] if stage.slugs else None,
        engineering=engineering.slugs,
        holder_name=clean_text(holder.name) if holder and holder.name else None,
        holder_type=holder_type.slugs[0] if holder_type.slugs else None,
        contact=record.contact,
        published_at=record.published_at,
        updated_at=record.updated_at,
    )
    digest = hashlib.sha256(orjson.dumps(fields, default=_default, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return NormalizedProject(**fields, content_hash=digest)


def _default(obj):
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return str(obj)


class EmptyTitle(ValueError):
    pass


def check(project: NormalizedProject) -> str | None:
    """A reason to reject a normalized project, or None when it is acceptable."""
    if not project.title or not fold(project.title):
        return "title is empty once markup and punctuation are removed"
    return None
