"""What the free-text resolver recognises in a place string: its patterns, prefixes and tables, the
:class:`Match` it returns, and the small rules on homonyms it shares with the free-text extractor (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.geocoder.gazetteer import (
    Commune,
    Departement,
    Region,
    normalize_name,
)

FRANCE_NAMES = frozenset({
    "", "france", "fr", "fra", "republique francaise", "france metropolitaine", "metropole",
    "guadeloupe", "martinique", "guyane", "guyane francaise", "la reunion", "reunion", "ile de la reunion",
    "mayotte", "nouvelle caledonie", "polynesie francaise", "saint pierre et miquelon", "saint barthelemy",
    "saint martin", "wallis et futuna", "outre mer", "dom tom", "dom",
})
COUNTRY_CODES = {
    "belgique": "BE", "belgium": "BE", "suisse": "CH", "switzerland": "CH", "luxembourg": "LU",
    "allemagne": "DE", "germany": "DE", "espagne": "ES", "spain": "ES", "italie": "IT", "italy": "IT",
    "portugal": "PT", "royaume uni": "GB", "angleterre": "GB", "united kingdom": "GB", "uk": "GB",
    "pays bas": "NL", "canada": "CA", "quebec": "CA", "maroc": "MA", "algerie": "DZ", "tunisie": "TN",
    "senegal": "SN", "cote d ivoire": "CI", "monaco": "MC", "andorre": "AD", "mali": "ML",
    "cameroun": "CM", "burkina faso": "BF", "madagascar": "MG", "haiti": "HT", "benin": "BJ",
    "togo": "TG", "niger": "NE", "guinee": "GN", "liban": "LB", "etats unis": "US", "usa": "US",
    "irlande": "IE", "autriche": "AT", "pologne": "PL", "grece": "GR", "roumanie": "RO",
}


def country_code(name: str | None) -> str | None:
    """ISO code of a foreign country named by a partner; None for France (overseas included).

    An unknown foreign name is kept, upper-cased (the project stays searchable by it)."""
    key = normalize_name(name or "")
    if key in FRANCE_NAMES:
        return None
    return COUNTRY_CODES.get(key, key.upper()[:60] or None)


@dataclass(frozen=True, slots=True)
class Match:
    commune: Commune | None = None
    departement: Departement | None = None
    region: Region | None = None
    country: str | None = None  # ISO code when abroad
    postcode: str | None = None  # the postcode the partner gave, when it is a real one
    precision: str = "none"  # commune | postcode | departement | region | country | none
    confidence: float = 0.0
    method: str = "none"

    @property
    def found(self) -> bool:
        return self.precision != "none"


NONE = Match()

# ---------------------------------------------------------------------------- patterns

POSTCODE = re.compile(r"(?<![0-9])((?:[0-9]{2}[ .]?[0-9]{3}))(?![0-9])")
INSEE_CORSICA = re.compile(r"(?<![0-9a-z])(2[ab][0-9]{3})(?![0-9])", re.IGNORECASE)
DEP_IN_PARENS = re.compile(r"\(\s*([0-9]{2,3}|2[abAB])\s*\)")
TRAILING_DEP = re.compile(r"^(.*\D)\s+(?:-\s*)?([0-9]{2}|9[78][0-9]|2[ab])$")
SEGMENTS = re.compile(r"\s*(?:[,;\n|/]|\s-\s|\s–\s)\s*")
OUTER_PARENS = re.compile(r"^\(?(.*?)\)?$")
LAST_PARENS = re.compile(r"\(([^)]*)\)\s*$")
DEP_CODE = re.compile(r"[0-9]{2,3}|2[ab]")
CEDEX_TAIL = re.compile(r"\b(cedex|bp|cs)( [0-9]+)?$")
ROMAN = {r: i for i, r in enumerate(
    ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv", "xv", "xvi", "xvii", "xviii", "xix", "xx"], start=1)}
ARR_CITY = {"paris": ("75056", 20), "lyon": ("69123", 9), "marseille": ("13055", 16)}
ARR = re.compile(
    r"\b(?:(paris|lyon|marseille)\s+(?:arrondissement\s+)?([0-9]{1,2}|[ivx]{1,5})\s*(?:e|eme|er|ere|em|me|emes?|arr|arrt|arrondissement)?\b"
    r"|([0-9]{1,2}|[ivx]{1,5})\s*(?:e|eme|er|ere|em|me)?\s+arrondissement\s+(?:de\s+)?(paris|lyon|marseille))"
)
NAME_PREFIXES = (
    "ville de ", "ville d ", "mairie de ", "mairie d ", "commune de ", "commune d ", "commune nouvelle de ",
    "commune nouvelle d ", "ccas de ", "ccas d ", "centre ville de ", "centre ville d ", "quartiers de ",
    "agglomeration de ", "agglomeration d ", "sur la commune de ", "a ",
)
DEP_PREFIXES = ("departement de la ", "departement de l ", "departement des ", "departement du ",
                 "departement de ", "departement d ", "departement ", "dept ", "dep ", "conseil departemental de la ",
                 "conseil departemental du ", "conseil departemental des ", "conseil departemental de ",
                 "conseil departemental d ", "conseil general du ", "conseil general de ")
REG_PREFIXES = ("region ", "conseil regional d ", "conseil regional de ", "conseil regional des ",
                 "conseil regional du ", "conseil regional ")
EPCI_TYPES = (
    "communaute de communes", "communaute d agglomeration", "communaute urbaine", "metropole europeenne",
    "eurometropole", "metropole", "agglomeration", "agglo", "cc", "ca", "cu", "etablissement public territorial",
    "ept",
)
EPCI_WORD = re.compile(r"\b(?:communaute|metropole|eurometropole|agglomeration|agglo|cc|ca|cu|ept|intercommunalite)\b")
LINKS = frozenset({"de", "du", "des", "d", "la", "l", "le", "les"})
OLD_REGIONS = {
    "nord pas de calais": "32", "picardie": "32", "npdc": "32", "alsace": "44", "lorraine": "44",
    "champagne ardenne": "44", "alca": "44", "aquitaine": "75", "limousin": "75", "poitou charentes": "75",
    "midi pyrenees": "76", "languedoc roussillon": "76", "rhone alpes": "84", "auvergne": "84",
    "bourgogne": "27", "franche comte": "27", "basse normandie": "28", "haute normandie": "28",
    "centre": "24", "region centre": "24", "paca": "93", "provence": "93", "sud": "93", "region sud": "93",
    "aura": "84", "idf": "11", "ile de france": "11", "bfc": "27", "hdf": "32", "nouvelle aquitaine": "75",
    "occitanie": "76", "grand est": "44", "bretagne": "53", "normandie": "28", "pays de la loire": "52",
    "corse": "94", "reunion": "04", "ile de la reunion": "04", "guyane francaise": "03",
}
STOP_SUFFIX = frozenset({"rue", "avenue", "boulevard", "bd", "chemin", "route", "place", "impasse", "allee",
                          "quai", "cours", "bp", "cs", "cedex", "lieu", "dit", "zone", "za", "zi", "zac"})
DEP_HOMONYM_MIN_POP = 100_000  # "Paris" is the commune; "Vienne", "Mayenne", "Doubs" are the départements
FUZZY_CUTOFF = 85.0
"""rapidfuzz ratio (0-100) a typo must reach against all commune names of France..."""
FUZZY_CUTOFF_WITH_HINT = 78.0
FUZZY_CUTOFF_IN_POSTCODE = 70.0
"""...and against the names of the département(s) given by a postcode or a "(dd)" hint."""


def share(cands: tuple[Commune, ...] | list[Commune]) -> float:
    total = sum(c.population for c in cands)
    return cands[0].population / total if total else 1.0 / len(cands)


def homonym_confidence(cands) -> float:
    return round(min(0.9, 0.4 + 0.5 * share(cands)), 3)


def strip_prefix(key: str, prefixes: tuple[str, ...]) -> str:
    if not key.startswith(prefixes):  # one C call for the usual case: no prefix at all
        return key
    for p in prefixes:
        if key.startswith(p) and len(key) > len(p):
            return key[len(p):]
    return key


def fold_place(s: str) -> str:
    return normalize_name(s)


@dataclass(slots=True)
class Hints:
    postcode: str | None = None
    departements: frozenset[str] = frozenset()
    postcode_departements: frozenset[str] = frozenset()
    region: str | None = None


def epci_keys(name: str) -> set[str]:
    """The keys an EPCI is found by: its folded name, and "epci:<core>" without its type (« Communauté
    de communes du Pays de … » → "epci:pays de …")."""
    key = fold_place(re.sub(r"\([^)]*\)", " ", name))
    keys = {key}
    core = key
    for t in EPCI_TYPES:
        if core.startswith(t + " "):
            core = core[len(t) + 1:]
            break
    words = core.split()
    while words and words[0] in LINKS:
        words = words[1:]
    core = " ".join(words)
    core = core.removesuffix(" metropole")
    if core.endswith((" agglomeration", " agglo")):
        core = core.rsplit(" ", 1)[0]
    if core and len(core) > 3:
        keys.add("epci:" + core)
    return keys
