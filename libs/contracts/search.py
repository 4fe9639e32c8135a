"""The search document: what the indexer writes and the gateway reads, whatever the backend."""

from __future__ import annotations

import functools
import gettext
import re
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from libs.contracts.text import fold  # noqa: F401 — the search folds with it (contract)

FACET_FIELDS = ("theme", "stage", "engineering", "holder_type", "source", "country", "region", "departement",
                "commune")
"""Facets every backend counts. ``theme``, ``engineering`` and ``source`` are multi-valued. ``country``
is the ISO 3166-1 alpha-2 code of a located project (``FR`` with overseas France; none when unlocated)."""

SEARCH_DATA = Path(__file__).parent / "search_data"
ELISIONS = frozenset(["c", "d", "j", "l", "m", "n", "s", "t", "qu", "les"])
"""Folded elided articles and pronouns the Snowball list leaves out (its words carry accents)."""
MEILI_INDEX = "projects"


class SearchDocument(BaseModel):
    id: str
    version: int
    title: str
    summary: str = ""
    description: str = ""
    url: str | None = None
    theme: list[str] = Field(default_factory=list)
    stage: str | None = None
    engineering: list[str] = Field(default_factory=list)
    holder_name: str | None = None
    holder_type: str | None = None
    source: list[str] = Field(default_factory=list)
    country: str | None = None
    """ISO 3166-1 alpha-2 code; None for a project not located at all."""
    country_name: str | None = None
    """The country's French name (pycountry's ISO 3166 names and their French translation)."""
    locality: str | None = None
    """Abroad: the city (world gazetteer name); in France the commune fields are used."""
    region: str | None = None
    region_name: str | None = None
    departement: str | None = None
    departement_name: str | None = None
    commune: str | None = None
    commune_name: str | None = None
    postcode: str | None = None
    lat: float | None = None
    lon: float | None = None
    first_seen: datetime
    updated_at: datetime


@functools.lru_cache(maxsize=512)
def country_name(code: str | None) -> str | None:
    """French name of an ISO 3166-1 alpha-2 code (``BE`` → ``Belgique``); None for anything else."""
    if not code or not re.fullmatch(r"[A-Z]{2}", code):
        return None
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return None
    name = getattr(country, "common_name", None) or country.name
    try:
        return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["fr"]).gettext(name)
    except OSError:
        return name


@functools.lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Snowball's French stop words (as PostgreSQL's 'french' configuration uses them), folded,
    plus the elisions: a query word among them weighs nothing."""
    lines = (SEARCH_DATA / "french_stop_words.txt").read_text(encoding="utf-8").splitlines()
    words = {fold(w) for w in lines if w and not w.startswith("#")}
    return frozenset(w for w in words if w) | ELISIONS


@functools.lru_cache(maxsize=1)
def synonym_groups() -> tuple[tuple[str, ...], ...]:
    """The synonym file's groups, each a tuple of folded expressions (first = the group's name)."""
    groups = []
    for line in (SEARCH_DATA / "synonyms.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        expressions = tuple(dict.fromkeys(f for f in (fold(x) for x in line.split("|")) if f))
        if len(expressions) > 1:
            groups.append(expressions)
    return tuple(groups)


def meili_synonyms() -> dict[str, list[str]]:
    """The synonym file as Meilisearch's ``synonyms`` setting: each expression maps to the others."""
    out: dict[str, list[str]] = {}
    for group in synonym_groups():
        for expression in group:
            out.setdefault(expression, [])
            out[expression] += [x for x in group if x != expression and x not in out[expression]]
    return out


MEILI_SETTINGS = {
    "searchableAttributes": ["title", "holder_name", "summary", "description", "commune_name"],
    "filterableAttributes": ["_geo", *FACET_FIELDS],
    "sortableAttributes": ["_geo", "first_seen_ts", "updated_at_ts"],
    "typoTolerance": {"enabled": True},
    "faceting": {"maxValuesPerFacet": 200},
    # the same words weigh nothing and mean the same thing as in the PostgreSQL reader
    "stopWords": sorted(stop_words()),
    "synonyms": meili_synonyms(),
    # words matched (the gateway sends the concepts most important first, matchingStrategy "last")
    # come first, then an explicit sort (newest, nearest), then the text rules
    "rankingRules": ["words", "sort", "typo", "proximity", "attribute", "exactness"],
}
