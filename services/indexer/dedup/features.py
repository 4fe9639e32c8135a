"""What a record is compared on, normalised once when it arrives, and its blocking keys."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from libs.contracts.events import Location, NormalizedProject
from libs.contracts.search import fold

# French function words and generic legal-form words: they carry no identity
STOPWORDS = frozenset(
    "le la les l de du des d un une et a au aux en pour par sur sous dans avec chez the of and "
    "association asso assoc collectif projet programme dispositif action initiative ass".split()
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
PRECISE = ("coordinates", "address")
# words naming a kind of project rather than one project: "Jardin partagé" alone identifies nothing
GENERIC = frozenset(
    "jardin partage epicerie solidaire sociale social repair cafe ressourcerie recyclerie tiers lieu atelier velo "
    "garage fablab fab lab colocation intergenerationnel conciergerie halte repit maison aidants cuisine "
    "bricotheque friperie accorderie boutique ferme urbaine associatif associative centre espace point accueil "
    "jeunes jeunesse seniors quartier habitants citoyen citoyenne participatif participative insertion "
    "reemploi numerique mobile itinerant itinerante regie restaurant bistrot amap potager compost compostage "
    "monnaie locale locales locaux reseau plateforme service services ville commune territoire pilote "
    "economie circulaire zero dechet dechets mobilite transport habitat inclusif logement emploi solidarite "
    "entraide familles famille parents enfants sante alimentation alimentaire durable "
    "economie sociale solidaire".split()
)


@dataclass(frozen=True)
class Features:
    source: str
    url: str
    title: str  # folded, abbreviations expanded, stop words and the commune's name removed
    tokens: tuple[str, ...]
    name: str  # the title without generic words nor the commune: what names this project ("la ruche")
    place_name: str  # the same, keeping the commune's name ("roubaix" for "Roubaix zéro déchet")
    kind: tuple[str, ...]  # the generic words of the title ("epicerie", "solidaire")
    description: str  # folded, first 600 characters
    holder: str
    domain: str
    email: str
    phone: str
    commune: str
    departement: str
    country: str
    lat: float | None
    lon: float | None
    precise: bool

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Features:
        return cls(**{**data, "tokens": tuple(data["tokens"]), "kind": tuple(data["kind"])})


def normalise_title(title: str, drop: frozenset[str] = frozenset()) -> tuple[str, tuple[str, ...]]:
    words = []
    for w in fold(title).split():
        w = ABBREVIATIONS.get(w, w)
        words.extend(w.split())
    core = [w for w in words if w not in STOPWORDS] or words
    if drop:  # the commune's name, when the title says where it is ("… de Roubaix", "… (Roubaix)")
        core = [w for w in core if w not in drop] or core
    return " ".join(core), tuple(core)


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


def features(project: NormalizedProject, location: Location) -> Features:
    town = frozenset(fold(location.commune_name or "").split()) - STOPWORDS
    title, tokens = normalise_title(project.title, town)
    name = " ".join(t for t in tokens if t not in GENERIC)
    _, full = normalise_title(project.title)
    place_name = " ".join(t for t in full if t not in GENERIC)
    kind = tuple(sorted({t for t in tokens if t in GENERIC}))
    contact = project.contact
    holder, _ = normalise_title(project.holder_name or "")
    email = (contact.email or "").strip().lower() if contact else ""
    return Features(
        source=project.source,
        url=project.url,
        title=title,
        tokens=tokens,
        name=name,
        place_name=place_name,
        kind=kind,
        description=fold((project.description or project.summary or "")[:700])[:600],
        holder=holder,
        domain=domain_of(contact.website if contact else None),
        email=email,
        phone=phone_of(contact.phone if contact else None),
        commune=location.commune_code or "",
        departement=location.departement_code or "",
        country=location.country or "",
        lat=location.lat,
        lon=location.lon,
        precise=location.precision in PRECISE and location.lat is not None,
    )


def block_keys(f: Features) -> list[str]:
    """Keys that put two records in one candidate block. Blocks larger than the store's cap are
    skipped at query time (a token shared by thousands of projects is not rare)."""
    keys = set()
    place = f.commune or (f.departement and f"d{f.departement}") or f.country
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
