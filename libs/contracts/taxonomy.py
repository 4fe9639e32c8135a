"""The platform taxonomy: stable slugs with French labels, loaded from ``taxonomy.json``.

Slugs are what events, the index and the API carry; labels are for people.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

Facet = Literal["theme", "stage", "engineering", "holder_type"]
FACETS: tuple[Facet, ...] = ("theme", "stage", "engineering", "holder_type")


class Term(BaseModel):
    model_config = ConfigDict(frozen=True)
    slug: str
    label: str


class Taxonomy(BaseModel):
    model_config = ConfigDict(frozen=True)
    version: int
    theme: tuple[Term, ...]
    stage: tuple[Term, ...]
    engineering: tuple[Term, ...]
    holder_type: tuple[Term, ...]

    def terms(self, facet: str) -> tuple[Term, ...]:
        return getattr(self, facet)

    def slugs(self, facet: str) -> frozenset[str]:
        return frozenset(t.slug for t in self.terms(facet))

    def label(self, facet: Facet, slug: str) -> str:
        for term in self.terms(facet):
            if term.slug == slug:
                return term.label
        raise KeyError(f"unknown {facet} slug: {slug!r}")


@lru_cache(maxsize=1)
def taxonomy() -> Taxonomy:
    data = json.loads((Path(__file__).parent / "taxonomy.json").read_text(encoding="utf-8"))
    return Taxonomy.model_validate(data)
