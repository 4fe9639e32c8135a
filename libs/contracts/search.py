"""The search document: what the indexer writes and the gateway reads, whatever the backend."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from unidecode import unidecode

FACET_FIELDS = ("theme", "stage", "engineering", "holder_type", "source", "region", "departement", "commune")
"""Facets every backend counts. ``theme``, ``engineering`` and ``source`` are multi-valued."""

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


def fold(text: str) -> str:
    """Lower case, no accents, alphanumerics only: 'Zéro Déchet !' → 'zero dechet'.

    Part of the contract: the indexer folds documents and the gateway folds queries the same way.
    """
    return " ".join("".join(ch if ch.isalnum() else " " for ch in unidecode(text).lower()).split())
