"""Communes for the territory of a person's post, from the platform's reference data
(``libs/contracts/communes.py``: the same file, the same loader and the same place-name key as the
geocoder, so "St-Étienne" and "Saint-Étienne" are one commune here too). Loaded once per process
(≈35,000 rows, ≈0.2 s)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from libs.contracts.communes import load_reference, normalize_name

_WITH_POSTCODE = re.compile(r"^(.*?)[\s,(]*(\d{5})\)?\s*$")


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    postcode: str | None
    departement: str
    departement_name: str | None
    region: str
    region_name: str | None
    lat: float | None
    lon: float | None
    population: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.postcode})" if self.postcode else f"{self.name} ({self.departement})"


class Gazetteer:
    def __init__(self, places: list[Place]):
        self.by_code = {p.code: p for p in places}
        self.by_name: dict[str, list[Place]] = {}
        self.by_postcode: dict[str, list[Place]] = {}
        for p in places:
            self.by_name.setdefault(normalize_name(p.name), []).append(p)
        self._postcodes: dict[str, list[Place]] = self.by_postcode
        self._names = sorted(self.by_name)

    def add_postcode(self, postcode: str, place: Place) -> None:
        self.by_postcode.setdefault(postcode, []).append(place)

    def resolve(self, text: str) -> tuple[Place | None, list[Place]]:
        """A commune from what a person typed: an INSEE code, a postcode, a name, or "Name (59000)".

        Returns (the place, []) when exactly one matches; (None, candidates) otherwise (empty:
        nothing matches; several: ambiguous, the most populated first)."""
        text = (text or "").strip()[:120]
        if not text:
            return None, []
        if text in self.by_code:
            return self.by_code[text], []
        name, postcode = text, None
        m = _WITH_POSTCODE.match(text)
        if m:
            name, postcode = m.group(1), m.group(2)
        folded = normalize_name(name)
        candidates: list[Place]
        if postcode and not folded:
            candidates = list(self.by_postcode.get(postcode, []))
        else:
            candidates = list(self.by_name.get(folded, []))
            if postcode:
                candidates = [p for p in candidates if p in self.by_postcode.get(postcode, [])] or \
                             [p for p in self.by_postcode.get(postcode, []) if normalize_name(p.name).startswith(folded)]
        candidates.sort(key=lambda p: -p.population)
        if len(candidates) == 1:
            return candidates[0], []
        return None, candidates[:10]

    def complete(self, text: str, limit: int = 10) -> list[Place]:
        """Communes whose name starts with what was typed (or with that postcode), the most populated first."""
        text = (text or "").strip()[:120]
        if not text:
            return []
        if text.isdigit():
            found = [p for code, ps in self.by_postcode.items() if code.startswith(text) for p in ps]
        else:
            folded = normalize_name(text)
            if len(folded) < 2:
                return []
            found = [p for name in self._names if name.startswith(folded) for p in self.by_name[name]]
        found.sort(key=lambda p: (-p.population, p.name))
        return found[:limit]


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    communes, _, _ = load_reference()
    places: list[tuple[Place, tuple[str, ...]]] = []
    for c in communes:
        if c.kind != "COM":
            continue
        place = Place(code=c.code, name=c.name, postcode=c.postcodes[0] if c.postcodes else None,
                      departement=c.departement, departement_name=c.departement_name or None, region=c.region,
                      region_name=c.region_name or None, lat=c.lat, lon=c.lon, population=c.population)
        places.append((place, c.postcodes))
    g = Gazetteer([p for p, _ in places])
    for place, postcodes in places:
        for pc in postcodes:
            g.add_postcode(pc, place)
    return g
