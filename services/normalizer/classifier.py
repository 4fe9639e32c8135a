"""Taxonomy classification (pure): partner labels and free text → platform slugs, with a confidence.

1. **Mapping tables** (``data/mappings/<source>.yaml``, then ``_common.yaml``): a partner's own
   labels mapped by hand, confidence 1.0. A label mapped to ``[]`` is known to carry no slug.
2. **Keyword classifier** on labels not in a table (confidence 0.9), and for themes and
   engineering on the title and description when no label gave anything (confidence
   0.35 + 0.15 per keyword hit, at most 0.8; long texts need two hits). Keywords
   (``libs/contracts/keywords.yaml``, matched by ``libs/contracts/keywords.py``) are folded and stemmed with the French Snowball stemmer, then matched
   as word prefixes on the folded text, so one keyword covers its inflections.
3. Nothing matched: no slug and confidence 0 — the record says it is unclassified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from libs.contracts.keywords import keyword_hits, keyword_index
from libs.contracts.search import fold
from libs.contracts.taxonomy import taxonomy

DATA = Path(__file__).parent / "data"
LABEL_TABLE_CONFIDENCE = 1.0
LABEL_KEYWORD_CONFIDENCE = 0.9
TEXT_BASE, TEXT_PER_HIT, TEXT_MAX = 0.35, 0.15, 0.8
LONG_TEXT_CHARS = 200
MAX_TEXT_THEMES = 3

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster
FACET_NAMES = ("theme", "stage", "engineering", "holder_type")


@lru_cache(maxsize=20_000)
def _label_key(label: str) -> str:
    return fold(label)


@lru_cache(maxsize=128)
def _table_file(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """One mapping file, checked against the taxonomy: facet → folded label → slugs (parsed once)."""
    tax = taxonomy()
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    if not path.exists():
        return out
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}  # noqa: S506 (safe loader)
    for facet, table in data.items():
        if facet not in FACET_NAMES:
            raise ValueError(f"{path.name}: unknown facet {facet!r}")
        rows = out.setdefault(facet, {})
        for label, slugs in (table or {}).items():
            slugs = (slugs,) if isinstance(slugs, str) else tuple(slugs or ())
            bad = set(slugs) - tax.slugs(facet)
            if bad:
                raise ValueError(f"{path.name}: unknown {facet} slugs {sorted(bad)} for {label!r}")
            rows[_label_key(str(label))] = slugs
    return out


@lru_cache(maxsize=64)
def mapping_table(source: str | None) -> dict[str, dict[str, tuple[str, ...]]]:
    """facet → folded label → slugs, for a partner (its own file over ``_common.yaml``)."""
    merged: dict[str, dict[str, tuple[str, ...]]] = {f: {} for f in FACET_NAMES}
    files = [DATA / "mappings" / "_common.yaml"]
    if source and re.fullmatch(r"[a-z0-9-]+", source):
        files.append(DATA / "mappings" / f"{source}.yaml")
    for path in files:
        for facet, rows in _table_file(path).items():
            merged[facet].update(rows)
    return merged


def preload() -> None:
    """Parse the keyword lists and every partner's mapping table now (service start-up), not on
    the first record of each partner (~5 ms each)."""
    keyword_index()
    mapping_table(None)
    for path in sorted((DATA / "mappings").glob("*.yaml")):
        if not path.name.startswith("_"):
            mapping_table(path.stem)


@dataclass(frozen=True)
class Classified:
    slugs: list[str]
    confidence: float
    """1.0 from a mapping table, 0.9 from keywords in the labels, ≤ 0.8 from free text, 0 when
    unclassified."""
    unmatched_labels: list[str] = field(default_factory=list)
    method: str = "none"  # table | label-keywords | text | none

    @property
    def classified(self) -> bool:
        return bool(self.slugs)


@lru_cache(maxsize=20_000)
def _label_hits(facet: str, label: str) -> dict[str, int]:
    return keyword_hits(facet, label)  # labels repeat across a partner's records: cached


@lru_cache(maxsize=8)
def _order(facet: str) -> dict[str, int]:
    return {t.slug: i for i, t in enumerate(taxonomy().terms(facet))}


def _ordered(facet: str, slugs) -> list[str]:
    return sorted(set(slugs), key=_order(facet).__getitem__)


def classify(facet: str, labels: list[str], text: str = "", multi: bool = True, source: str | None = None) -> Classified:
    """Map a record's labels for ``facet`` onto slugs; fall back to free text; say when nothing matched."""
    kw = keyword_index()[facet]  # KeyError for an unknown facet
    del kw
    table = mapping_table(source)[facet]
    from_table: list[str] = []
    from_keywords: dict[str, int] = {}
    known_empty = False
    unmatched: list[str] = []
    for label in labels:
        key = _label_key(label)
        if not key:
            continue
        if key in table:
            from_table += table[key]
            known_empty = known_empty or not table[key]
            continue
        hits = _label_hits(facet, label)
        if hits:
            for s, n in hits.items():
                from_keywords[s] = from_keywords.get(s, 0) + n
        else:
            unmatched.append(label)
    if from_table or from_keywords:
        if multi:
            slugs = _ordered(facet, [*from_table, *from_keywords])
        else:  # single-valued: the table first, else the keyword with most hits
            ranked = from_table[:1] or sorted(from_keywords, key=lambda s: (-from_keywords[s], s))[:1]
            slugs = ranked
        conf = LABEL_TABLE_CONFIDENCE if from_table and not from_keywords else LABEL_KEYWORD_CONFIDENCE
        return Classified(slugs, conf, unmatched, "table" if conf == LABEL_TABLE_CONFIDENCE else "label-keywords")
    if text.strip():
        hits = keyword_hits(facet, text)
        need = 1 if len(text) < LONG_TEXT_CHARS else 2
        hits = {s: n for s, n in hits.items() if n >= need}
        if hits:
            best = max(hits.values())
            ranked = sorted(hits, key=lambda s: (-hits[s], s))
            if multi:
                chosen = [s for s in ranked if hits[s] * 2 >= best][:MAX_TEXT_THEMES]
            else:
                chosen = ranked[:1]
            conf = round(min(TEXT_MAX, TEXT_BASE + TEXT_PER_HIT * best), 3)
            return Classified(_ordered(facet, chosen), conf, unmatched, "text")
    return Classified([], 0.0, unmatched, "table" if known_empty else "none")
