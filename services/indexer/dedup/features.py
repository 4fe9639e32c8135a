"""What a record is compared on, normalised once when it arrives, and its blocking keys."""

from __future__ import annotations

import re
import sys
from typing import NamedTuple
from urllib.parse import urlsplit

from libs.contracts.events import Location, NormalizedProject
from libs.contracts.search import fold

# French function words and generic legal-form words: they carry no identity
STOPWORDS = frozenset(
    ["le", "la", "les", "l", "de", "du", "des", "d", "un", "une", "et", "a", "au", "aux", "en", "pour", "par", "sur", "sous", "dans", "avec", "chez", "the", "of", "and", "association", "asso", "assoc", "collectif", "projet", "programme", "dispositif", "action", "initiative", "ass"]
)
ABBREVIATIONS = {
    "st": "saint", "ste": "sainte", "sts": "saints", "cie": "compagnie", "coop": "cooperative",
    "intergen": "intergenerationnel", "intergenerationnelle": "intergenerationnel",
    "partagee": "partage", "partagees": "partage", "partages": "partage", "jardins": "jardin",
    "solidaires": "solidaire", "epiceries": "epicerie", "ateliers": "atelier", "repar": "reparation",
    "num": "numerique", "ess": "economie sociale solidaire", "tiers": "tiers", "velos": "velo",
}
# hosts shared by unrelated projects: a website there says nothing about identity
GENERIC_HOSTS = ("facebook.com", "fb.com", "instagram.com", "linkedin.com", "twitter.com", "x.com", "youtube.com",
                 "helloasso.com", "wixsite.com", "wordpress.com", "blogspot.com", "over-blog.com", "google.com",
                 "sites.google.com", "free.fr", "orange.fr", "wanadoo.fr", "gmail.com", "yahoo.fr", "hotmail.fr",
                 "linktr.ee", "canalblog.com", "jimdo.com", "e-monsite.com")
LOCATED = ("coordinates", "address", "commune", "postcode")
# words naming a kind of project rather than one project ("jardin partagé"): beyond the commune,
# only the other words of a title make blocking keys (a nationwide "jardin" block says nothing)
GENERIC = frozenset(
    ["jardin", "partage", "epicerie", "solidaire", "sociale", "social", "repair", "cafe", "ressourcerie", "recyclerie", "tiers", "lieu", "atelier", "velo", "garage", "fablab", "fab", "lab", "colocation", "intergenerationnel", "conciergerie", "halte", "repit", "maison", "aidants", "cuisine", "bricotheque", "friperie", "accorderie", "boutique", "ferme", "urbaine", "associatif", "associative", "centre", "espace", "point", "accueil", "jeunes", "jeunesse", "seniors", "quartier", "habitants", "citoyen", "citoyenne", "participatif", "participative", "insertion", "reemploi", "numerique", "mobile", "itinerant", "itinerante", "regie", "restaurant", "bistrot", "amap", "potager", "compost", "compostage", "monnaie", "locale", "locales", "locaux", "reseau", "plateforme", "service", "services", "ville", "commune", "territoire", "pilote", "economie", "circulaire", "zero", "dechet", "dechets", "mobilite", "transport", "habitat", "inclusif", "logement", "emploi", "solidarite", "entraide", "familles", "famille", "parents", "enfants", "sante", "alimentation", "alimentaire", "durable", "economie", "sociale", "solidaire"]
)


SEPARATORS = re.compile(r"\s[:–—|-]\s|[,;:()\[\]«»\"“”/!?]|\s[–—-]$|^[–—-]\s")
HOLDER_CLAUSE = re.compile(r"\b(?:porte|portee|portes|portees|anime|animee|mene|menee|propose|proposee)\s+par\b.*")
PLACE_LINK = ("a", "de", "d", "du", "sur", "en", "au", "aux")
ARRONDISSEMENT = re.compile(r"\s+\d+(?:er|e|eme)?\s+arrondissement$")
CITY_OF_ARRONDISSEMENT = {"75": ("75101", "75120", "75056"), "69": ("69381", "69389", "69123"),
                          "13": ("13201", "13216", "13055")}
"""INSEE: the municipal arrondissements of Paris, Lyon and Marseille and their city's code."""


def city_code(code: str) -> str:
    """The commune an INSEE code belongs to: an arrondissement is its city ("69387" → "69123")."""
    span = CITY_OF_ARRONDISSEMENT.get(code[:2])
    return span[2] if span and span[0] <= code <= span[1] else code


SHARED = ("source", "title_town", "commune", "city", "postcode", "departement", "country")
FEATURES_VERSION = 2
"""Stored with the features; features of another version are recomputed from the record."""


class StaleFeatures(ValueError):
    """Stored features of an older version of the matching."""


class Features(NamedTuple):
    """A tuple of strings and floats: no per-record ``__dict__``, and untracked by the garbage
    collector once it has seen it (the cache of candidate features holds tens of thousands)."""

    source: str
    url: str
    title: str  # the name: the title's first naming segment without decorations, folded, stop words out
    tokens: tuple[str, ...]  # every word of the title but the holder clause, the town's words and stop words
    title_town: str  # the record's own town when its title names it ("brest" in "… de Brest")
    description: str  # folded, first 600 characters
    holder: str
    domain: str
    email: str
    phone: str
    commune: str
    city: str  # the commune, an arrondissement counting as its city
    postcode: str
    departement: str
    country: str
    lat: float | None
    lon: float | None
    located: bool  # lat/lon say where the commune (or better) is, not a département's centre

    def to_json(self) -> dict:
        return {**self._asdict(), "v": FEATURES_VERSION}

    @classmethod
    def from_json(cls, data: dict) -> Features:
        if data.get("v") != FEATURES_VERSION:
            raise StaleFeatures(f"features of version {data.get('v')}")
        values = [data[k] for k in cls._fields]
        for i in _SHARED_AT:  # the same few thousand values across records: one copy in memory
            values[i] = sys.intern(values[i])
        values[_TOKENS_AT] = tuple(sys.intern(t) for t in values[_TOKENS_AT])
        return cls._make(values)


_SHARED_AT = tuple(Features._fields.index(k) for k in SHARED)
_TOKENS_AT = Features._fields.index("tokens")


def _words(text: str) -> list[str]:
    words = []
    for w in fold(text).split():
        words.extend(ABBREVIATIONS.get(w, w).split())
    return words


def _content(words: list[str]) -> list[str]:
    return [w for w in words if w not in STOPWORDS]


def strip_decorations(title: str, town: str = "", holder: str = "") -> tuple[list[str], list[str], str]:
    """A title cut at its punctuation into segments; the holder clause ("porté par …"), segments
    that only name the town or the holder, and a trailing "de <town>" are decorations. Returns
    (the name: the first segment left with content, every content word left, the town if named)."""
    town_words, holder_words = _words(town), _content(_words(holder))
    named_town = ""
    segments: list[list[str]] = []
    for raw in SEPARATORS.split(title):
        words = _words(HOLDER_CLAUSE.sub("", fold(raw)))
        if town_words:
            n = len(town_words)
            if words[-n:] == town_words:
                words = words[:-n]
                while words and words[-1] in PLACE_LINK:
                    words.pop()
                named_town = " ".join(town_words)
        content = _content(words)
        if not content or (segments and content == holder_words):  # a project is often named as its holder
            continue
        segments.append(content)
    if not segments:  # the title is only the town, or only stop words: keep what there is
        segments = [_content(_words(title)) or _words(title)]
    everything = [w for s in segments for w in s]
    if town_words and any(w in town_words for w in everything) and len(everything) > len(town_words):
        named_town = named_town or " ".join(town_words)  # "Roubaix zéro déchet": the town is no project's name
        everything = [w for w in everything if w not in town_words]
    return segments[0], everything, named_town


def features(project: NormalizedProject, location: Location) -> Features:
    town = ARRONDISSEMENT.sub("", fold(location.commune_name or ""))
    name, tokens, named_town = strip_decorations(project.title, town, project.holder_name or "")
    contact = project.contact
    holder = " ".join(_content(_words(project.holder_name or "")))
    email = (contact.email or "").strip().lower() if contact else ""
    commune = location.commune_code or ""
    return Features(
        source=project.source,
        url=project.url,
        title=" ".join(name),
        tokens=tuple(tokens),
        title_town=named_town,
        description=fold((project.description or project.summary or "")[:700])[:600],
        holder=holder,
        domain=domain_of(contact.website if contact else None),
        email=email,
        phone=phone_of(contact.phone if contact else None),
        commune=commune,
        city=city_code(commune) if commune else "",
        postcode=location.postcode or "",
        departement=location.departement_code or "",
        country=location.country or "",
        lat=location.lat,
        lon=location.lon,
        located=location.precision in LOCATED and location.lat is not None,
    )


def domain_of(url: str | None) -> str:
    if not url:
        return ""
    host = (urlsplit(url if "//" in url else f"http://{url}").hostname or "").lower()
    host = host.removeprefix("www.")
    if not host or any(host == g or host.endswith("." + g) for g in GENERIC_HOSTS):
        return ""
    return host


def phone_of(phone: str | None) -> str:
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("0033"):
        digits = digits[4:]
    elif digits.startswith("33") and len(digits) == 11:
        digits = digits[2:]
    digits = digits.lstrip("0")
    return digits if len(digits) >= 8 else ""


def block_keys(f: Features) -> list[str]:
    """Keys that put two records in one candidate block. Blocks larger than the store's cap are
    skipped at query time (a token shared by thousands of projects is not rare)."""
    keys = set()
    place = f.city or (f.departement and f"d{f.departement}") or f.country
    area = f.departement or f.country
    words = [t for t in f.tokens if len(t) >= 3 or t.isdigit()]
    # beyond the commune, only the words that name the project ("quincaillerie", not "jardin")
    naming = [t for t in words if t not in GENERIC]
    if place:
        keys.add(f"c:{place}")
        keys.update(f"ct:{place}:{t}" for t in words)
    if area:
        keys.update(f"dt:{area}:{t}" for t in naming)
    keys.update(f"t:{t}" for t in naming)
    if f.domain:
        keys.add(f"w:{f.domain}")
    if f.email:
        keys.add(f"e:{f.email}")
    if f.phone:
        keys.add(f"p:{f.phone}")
    keys.add(f"u:{f.url}")
    return sorted(keys)
