"""The French communes, départements and régions of the reference data file, loaded once by
whoever needs them (the geocoder's gazetteer; the gateway's matchmaking places can use it too).

The files are ``libs/contracts/reference/communes.csv.gz``, ``departements.csv`` and ``regions.csv``
(built by ``scripts/build_gazetteer.py`` from INSEE's COG and IGN outlines, see ``SOURCES.md``
there); they ship with the package. ``normalize_name`` is the one key of a place name. One rule for every reader: a commune without an outline
gets its département's centroid (``precision`` "departement"); without either it has no
coordinates (``precision`` "none"); overseas collectivities (zone "com") have none at all.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

from libs.contracts.text import fold

DATA_DIR = Path(__file__).resolve().parent / "reference"
HEADER = ["code", "kind", "parent", "name", "postcodes", "departement", "region", "population", "lat", "lon",
          "precision", "zone"]


@dataclass(frozen=True, slots=True)
class Commune:
    code: str
    name: str
    postcodes: tuple[str, ...]
    departement: str
    departement_name: str
    region: str
    region_name: str
    lat: float | None
    lon: float | None
    population: int
    zone: str  # metro | drom | com
    kind: str  # COM (commune) | ARM (arrondissement of Paris/Lyon/Marseille)
    parent: str | None  # for ARM: the commune's code
    precision: str = "commune"  # commune | departement | none (how lat/lon were obtained)


@dataclass(frozen=True, slots=True)
class Departement:
    code: str
    name: str
    region: str
    region_name: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    lat: float | None
    lon: float | None


def _float(s: str) -> float | None:
    return float(s) if s and s != "\\N" else None


def load_reference(data_dir: str | Path | None = None) -> tuple[list[Commune], dict[str, Departement],
                                                               dict[str, Region]]:
    """Every commune and arrondissement (``kind`` COM or ARM) in file order, the départements and
    the régions by code; about 0.2 s."""
    d = Path(data_dir) if data_dir is not None else DATA_DIR
    with open(d / "regions.csv", encoding="utf-8", newline="") as fh:
        regions = {
            r["code"]: Region(r["code"], r["name"], _float(r["lat"]), _float(r["lon"]))
            for r in csv.DictReader(fh)
        }
    with open(d / "departements.csv", encoding="utf-8", newline="") as fh:
        departements = {}
        for r in csv.DictReader(fh):
            region = regions.get(r["region"])
            departements[r["code"]] = Departement(
                r["code"], r["name"], r["region"], region.name if region else "",
                _float(r["lat"]), _float(r["lon"]),
            )
    communes: list[Commune] = []
    intern: dict[str, str] = {}
    with gzip.open(d / "communes.csv.gz", "rb") as raw:
        rows = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        header = next(rows)
        if header != HEADER:
            raise ValueError(f"unexpected communes.csv.gz header: {header}")
        for code, kind, parent, name, postcodes, dep, reg, pop, lat, lon, precision, zone in rows:
            depo = departements.get(dep)
            lat_f, lon_f = _float(lat), _float(lon)
            if lat_f is None and depo is not None and depo.lat is not None:
                lat_f, lon_f = depo.lat, depo.lon
                precision = "departement"
            elif lat_f is None:
                precision = "none"
            communes.append(
                Commune(  # positional: noticeably faster than keywords for 35k rows
                    code,
                    name,
                    tuple([intern.setdefault(p, p) for p in postcodes.split()]),
                    intern.setdefault(dep, dep),
                    depo.name if depo else "",
                    intern.setdefault(reg, reg),
                    regions[reg].name if reg in regions else "",
                    lat_f,
                    lon_f,
                    int(pop) if pop else 0,
                    intern.setdefault(zone, zone),
                    intern.setdefault(kind, kind),
                    parent or None,
                    intern.setdefault(precision, precision),
                )
            )
    return communes, departements, regions


_TRAILING_ARTICLE = re.compile(r"^(.*?)\s*\(\s*(l['’ʼ`]|le|la|les|los|las|els|aux)\s*\)\s*$", re.IGNORECASE)
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
ARTICLES = frozenset({"le", "la", "les", "l"})
# Applied after casefold, before dropping non-ASCII: ligatures, and typographic
# apostrophes/dashes/spaces that must separate words rather than vanish.
_PRE_ASCII = str.maketrans(
    {"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "đ": "d", "ł": "l"}
    | dict.fromkeys("\u2019\u2018\u02bc\u00b4\u2010\u2011\u2012\u2013\u2014\u00a0\u202f\u00ab\u00bb", " ")
)


@functools.lru_cache(maxsize=4096)
def normalize_name(s: str) -> str:
    """Canonical key for a place name.

    Case, accents, hyphens, apostrophes and punctuation are ignored, "St"/"Ste"
    become "saint"/"sainte", a trailing article in parentheses is moved to the
    front ("Mans (Le)" -> "le mans") and a trailing "CEDEX nn" is dropped.

    >>> normalize_name("Saint-Étienne") == normalize_name("ST ETIENNE")
    True
    >>> normalize_name("Haÿ-les-Roses (L')")
    'l hay les roses'
    """
    if not s:
        return ""
    s = s.strip()
    m = _TRAILING_ARTICLE.match(s)
    if m:
        s = f"{m.group(2)} {m.group(1)}"
    tokens = fold(s.casefold().translate(_PRE_ASCII)).split()  # the contracts' accent folding
    if "cedex" in tokens:
        i = tokens.index("cedex")
        if i > 0 and all(t.isdigit() for t in tokens[i + 1 :]):
            tokens = tokens[:i]
    return " ".join(_ABBREVIATIONS.get(t, t) for t in tokens)
