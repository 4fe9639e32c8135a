"""The search document: what the indexer writes and the gateway reads, whatever the backend."""

from __future__ import annotations

import functools
import gettext
import re
from datetime import datetime

from pydantic import BaseModel, Field

from libs.contracts.text import fold  # noqa: F401 — the search folds with it (contract)

FACET_FIELDS = ("theme", "stage", "engineering", "holder_type", "source", "country", "region", "departement",
                "commune")
"""Facets every backend counts. ``theme``, ``engineering`` and ``source`` are multi-valued. ``country``
is the ISO 3166-1 alpha-2 code of a located project (``FR`` with overseas France; none when unlocated)."""

MEILI_INDEX = "projects"
MEILI_SETTINGS = {
    "searchableAttributes": ["title", "holder_name", "summary", "description", "commune_name"],
    "filterableAttributes": ["_geo", *FACET_FIELDS],
    "sortableAttributes": ["_geo", "first_seen_ts", "updated_at_ts"],
    "typoTolerance": {"enabled": True},
    "faceting": {"maxValuesPerFacet": 200},
}


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



