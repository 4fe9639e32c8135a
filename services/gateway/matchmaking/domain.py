"""Pure matchmaking rules: what a post is, validation (French messages per field), the search
query, suggestions with explanations, expiry, who may do what. No I/O."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from libs.contracts.search import fold
from libs.contracts.taxonomy import taxonomy
from services.gateway.matchmaking.skills import SKILLS
from services.gateway.search.rules import BBox, Geo, QueryError, parse_search

PARIS = ZoneInfo("Europe/Paris")

KINDS = {
    "call_for_expertise": "Appel à expertise",
    "job_offer": "Offre d'emploi",
    "job_search": "Recherche d'emploi",
    "expertise_offer": "Offre d'expertise",
}
PROJECT_KINDS = frozenset({"call_for_expertise", "job_offer"})
"""Published by the holder of a project, linked to it."""
PERSON_KINDS = frozenset({"job_search", "expertise_offer"})
"""Published by any verified account, for themselves."""
COMPLEMENTS = {
    "call_for_expertise": ("expertise_offer", "job_search"),
    "job_offer": ("job_search", "expertise_offer"),
    "job_search": ("job_offer", "call_for_expertise"),
    "expertise_offer": ("call_for_expertise", "job_offer"),
}
"""The kinds that answer a kind, the best first (suggestions)."""

CONTRACT_TYPES = {
    "cdi": "CDI", "cdd": "CDD", "interim": "Intérim", "alternance": "Alternance", "stage": "Stage",
    "service-civique": "Service civique", "freelance": "Indépendant / prestation", "benevolat": "Bénévolat",
}
REMOTE = {"on_site": "Sur place", "hybrid": "En partie à distance", "remote": "À distance"}
PAY_PERIODS = {"hour": "de l'heure", "month": "par mois", "year": "par an"}
STATUSES = {"open": "Ouverte", "closed": "Close"}
CLOSE_REASONS = {"author": "close par son auteur", "deadline": "échéance passée", "expired": "expirée"}
REPORT_REASONS = {"spam": "Spam ou publicité", "abuse": "Propos abusifs ou discriminatoires",
                  "fraud": "Arnaque ou offre frauduleuse", "other": "Autre"}

LIFETIME_DAYS = {"call_for_expertise": 90, "job_offer": 60, "job_search": 120, "expertise_offer": 180}
"""A post without a deadline closes by itself after this many days (its author can publish again)."""
MAX_DEADLINE_DAYS = 366
MAX_TITLE, MIN_TITLE = 120, 5
MAX_BODY, MIN_BODY = 5000, 20
MAX_SKILLS, MAX_THEMES = 12, 5
MAX_SHORT = 200
REPORTS_PER_HOUR_PER_IP = 5
"""A reporter (an IP address, hashed; or an account) may send this many reports an hour."""
MAX_PER_PAGE = 100
MAX_RESULT_WINDOW = 10_000

PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
POST_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
SKILL_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
COMMUNE_CODE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
FIELD_LABELS = {
    "kind": "Type d'annonce", "title": "Titre", "description": "Description", "skills": "Compétences",
    "themes": "Thématiques", "project_id": "Projet", "commune": "Commune", "remote": "Lieu de travail",
    "deadline": "Date limite", "contract_type": "Type de contrat", "hours": "Horaires", "pay_min": "Salaire minimum",
    "pay_max": "Salaire maximum", "pay_period": "Période du salaire", "start_date": "Date de début",
    "availability": "Disponibilités",
}


# --------------------------------------------------------------------------- skills


def _slug(text: str, limit: int = 60) -> str:
    return "-".join(fold(text).split())[:limit].strip("-")


_SKILL_INDEX: dict[str, str] = {}
for _slug_, (_label, _synonyms) in SKILLS.items():
    for _form in (_slug_.replace("-", " "), _label, *_synonyms):
        _SKILL_INDEX.setdefault(fold(_form), _slug_)


def normalize_skill(raw: str) -> str | None:
    """A skill as its vocabulary slug (label, slug or synonym, any case or accent), else the folded
    text as a slug ("Soudure TIG" → "soudure-tig"); None when nothing is left."""
    folded = fold(raw or "")
    if not folded:
        return None
    if folded in _SKILL_INDEX:
        return _SKILL_INDEX[folded]
    slug = _slug(folded)
    return _SKILL_INDEX.get(slug.replace("-", " "), slug) or None


def skill_label(slug: str) -> str:
    """French label of a vocabulary skill; a free skill shows its words."""
    entry = SKILLS.get(slug)
    return entry[0] if entry else slug.replace("-", " ")


def split_list(value: Any) -> list[str]:
    """A list from a JSON list or from a form field ("a, b; c" or repeated fields)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,;\n]", value) if v.strip()]
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for v in value:
            if isinstance(v, str):
                out += split_list(v)
            elif v is not None:
                out.append(str(v))
        return out
    return [str(value)]


# --------------------------------------------------------------------------- validation


@dataclass
class Draft:
    """A validated post, as its author wrote it (place still to be resolved: ``commune`` is what was typed)."""

    kind: str
    title: str
    description: str
    skills: list[str]
    themes: list[str]
    project_id: str | None = None
    commune: str | None = None
    remote: str = "on_site"
    deadline: date | None = None
    contract_type: str | None = None
    hours: str | None = None
    pay_min: int | None = None
    pay_max: int | None = None
    pay_period: str | None = None
    start_date: date | None = None
    availability: str | None = None


def _text(data: Mapping[str, Any], name: str, errors: dict[str, str], *, lo: int = 0, hi: int = MAX_SHORT,
          required: bool = False, multiline: bool = False) -> str | None:
    raw = data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errors[name] = "Ce champ est obligatoire."
        return None
    if not isinstance(raw, str):
        errors[name] = "Texte attendu."
        return None
    value = raw.replace("\r\n", "\n").strip()
    bad = [c for c in value if (ord(c) < 32 and not (multiline and c in "\n\t")) or ord(c) == 127]
    if bad:
        errors[name] = "Caractères de contrôle interdits."
        return None
    if not multiline:
        value = " ".join(value.split())
    if len(value) < lo:
        errors[name] = f"Au moins {lo} caractères."
        return None
    if len(value) > hi:
        errors[name] = f"Au plus {hi} caractères."
        return None
    return value


def _date(data: Mapping[str, Any], name: str, errors: dict[str, str]) -> date | None:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    try:
        return date.fromisoformat(str(raw).strip()[:20])
    except ValueError:
        errors[name] = "Date attendue au format AAAA-MM-JJ."
        return None


def _int(data: Mapping[str, Any], name: str, errors: dict[str, str], lo: int = 0, hi: int = 1_000_000) -> int | None:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, bool):
        errors[name] = "Nombre entier attendu."
        return None
    try:
        value = int(str(raw).strip().replace(" ", "").replace("\u202f", "")) if not isinstance(raw, int) else raw
    except ValueError:
        errors[name] = "Nombre entier attendu."
        return None
    if not lo <= value <= hi:
        errors[name] = f"Entre {lo} et {hi}."
        return None
    return value


def _choice(data: Mapping[str, Any], name: str, choices: Mapping[str, str], errors: dict[str, str],
            required: bool = False, default: str | None = None) -> str | None:
    raw = data.get(name)
    if raw in (None, ""):
        if required:
            errors[name] = "Choisissez une valeur."
        return default
    if not isinstance(raw, str) or raw not in choices:
        errors[name] = "Valeur inconnue : choisissez parmi " + ", ".join(choices.values()) + "."
        return default
    return raw


def validate_post(data: Mapping[str, Any], today: date, *, kind: str | None = None) -> tuple[Draft | None, dict[str, str]]:
    """Check what an author sent; returns the draft, or None and French messages by field name.

    ``kind`` fixes the kind (an edit cannot change it)."""
    errors: dict[str, str] = {}
    kind = kind or _choice(data, "kind", KINDS, errors, required=True)
    title = _text(data, "title", errors, lo=MIN_TITLE, hi=MAX_TITLE, required=True)
    description = _text(data, "description", errors, lo=MIN_BODY, hi=MAX_BODY, required=True, multiline=True)

    raw_skills = split_list(data.get("skills"))
    skills: list[str] = []
    if len(raw_skills) > MAX_SKILLS:
        errors["skills"] = f"Au plus {MAX_SKILLS} compétences."
    else:
        for raw in raw_skills:
            if len(raw) > 60:
                errors["skills"] = "Une compétence fait au plus 60 caractères."
                break
            slug = normalize_skill(raw)
            if slug and slug not in skills:
                skills.append(slug)
    known_themes = taxonomy().slugs("theme")
    themes = list(dict.fromkeys(split_list(data.get("themes"))))
    if len(themes) > MAX_THEMES:
        errors["themes"] = f"Au plus {MAX_THEMES} thématiques."
    elif any(t not in known_themes for t in themes):
        errors["themes"] = "Thématique inconnue."

    remote = _choice(data, "remote", REMOTE, errors, default="on_site") or "on_site"
    project_id = _text(data, "project_id", errors, hi=101)
    if project_id and not PROJECT_ID.match(project_id):
        errors["project_id"] = "Identifiant de projet invalide."
    commune = _text(data, "commune", errors, hi=120)
    deadline = _date(data, "deadline", errors)
    start_date = _date(data, "start_date", errors)
    contract_type = _choice(data, "contract_type", CONTRACT_TYPES, errors)
    hours = _text(data, "hours", errors, hi=120)
    pay_min = _int(data, "pay_min", errors)
    pay_max = _int(data, "pay_max", errors)
    pay_period = _choice(data, "pay_period", PAY_PERIODS, errors)
    availability = _text(data, "availability", errors, hi=MAX_SHORT)

    if kind in PROJECT_KINDS and not project_id and "project_id" not in errors:
        errors["project_id"] = "Choisissez le projet que vous portez."
    if kind in PERSON_KINDS:
        if project_id:
            errors["project_id"] = "Une recherche d'emploi ou une offre d'expertise n'est liée à aucun projet."
        if not commune and "commune" not in errors:
            errors["commune"] = "Indiquez votre commune (nom, code postal ou code INSEE)."
        if not skills and "skills" not in errors:
            errors["skills"] = "Indiquez au moins une compétence."
        if not availability and "availability" not in errors:
            errors["availability"] = "Indiquez vos disponibilités (par exemple : deux jours par semaine)."
    if kind == "call_for_expertise" and not skills and "skills" not in errors:
        errors["skills"] = "Indiquez au moins une compétence recherchée."
    if kind == "job_offer":
        if not contract_type and "contract_type" not in errors:
            errors["contract_type"] = "Choisissez le type de contrat."
        if not hours and "hours" not in errors:
            errors["hours"] = "Indiquez les horaires (par exemple : 35 h par semaine)."
        if not start_date and "start_date" not in errors:
            errors["start_date"] = "Indiquez la date de début."
    if (pay_min is not None or pay_max is not None) and not pay_period and "pay_period" not in errors:
        errors["pay_period"] = "Précisez si le salaire est horaire, mensuel ou annuel."
    if pay_min is not None and pay_max is not None and pay_min > pay_max:
        errors["pay_max"] = "Le maximum doit être supérieur ou égal au minimum."
    if (pay_min is not None or pay_max is not None or pay_period) and kind != "job_offer":
        errors["pay_min"] = "Un salaire ne s'indique que sur une offre d'emploi."
    if deadline is not None:
        if deadline < today:
            errors["deadline"] = "La date limite est déjà passée."
        elif deadline > today + timedelta(days=MAX_DEADLINE_DAYS):
            errors["deadline"] = "La date limite est à plus d'un an."
    if start_date is not None and start_date < today - timedelta(days=1) and kind == "job_offer":
        errors["start_date"] = "La date de début est déjà passée."
    if errors or kind is None:
        return None, errors
    return Draft(kind=kind, title=title or "", description=description or "", skills=skills, themes=themes,
                 project_id=project_id, commune=commune, remote=remote, deadline=deadline,
                 contract_type=contract_type, hours=hours, pay_min=pay_min, pay_max=pay_max, pay_period=pay_period,
                 start_date=start_date, availability=availability), {}


def new_post_id(title: str, token: str | None = None) -> str:
    """A readable, unguessable-enough id: the title's slug and 6 random characters."""
    token = token or secrets.token_hex(3)
    base = _slug(title, 50)
    return f"{base}-{token}" if base else f"annonce-{token}"


# --------------------------------------------------------------------------- expiry


def expires_at(kind: str, created: datetime, deadline: date | None) -> datetime:
    """When a post closes by itself: the end of its deadline day (Paris time), else created + its lifetime."""
    if deadline is not None:
        return datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=PARIS).astimezone(UTC)
    return created + timedelta(days=LIFETIME_DAYS[kind])


def close_reason_for_expiry(deadline: date | None) -> str:
    return "deadline" if deadline is not None else "expired"


# --------------------------------------------------------------------------- access rules


def can_see(post: Mapping[str, Any], user_id: int | None, moderator: bool) -> bool:
    """A hidden post is seen by its author and by moderators only."""
    return not post["hidden"] or moderator or (user_id is not None and user_id == post["author_id"])


def can_edit(post: Mapping[str, Any], user_id: int | None) -> bool:
    """Only the author edits or closes a post (a moderator hides it instead)."""
    return user_id is not None and user_id == post["author_id"]


# --------------------------------------------------------------------------- search


FACETS = ("kind", "skill", "contract_type", "remote", "theme", "region", "departement", "commune")
MULTI_FACETS = frozenset({"skill", "theme"})
FACET_TITLES = {"kind": "Type d'annonce", "skill": "Compétence", "contract_type": "Contrat", "remote": "Lieu de travail",
                "theme": "Thématique", "region": "Région", "departement": "Département", "commune": "Commune"}
SORTS = ("relevance", "newest", "nearest", "deadline")


@dataclass(frozen=True)
class PostQuery:
    q: str = ""
    tokens: tuple[str, ...] = ()
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    geo: Geo | None = None
    bbox: BBox | None = None
    project_id: str | None = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = 20
    include_closed: bool = False

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def parse_post_query(*, q: str | None = None, filters: Mapping[str, Iterable[str]] | None = None,
                     lat=None, lon=None, radius_km=None, bbox: str | None = None, sort: str | None = None,
                     project: str | None = None, page=1, per_page=20, include_closed: bool = False) -> PostQuery:
    """Validate search parameters (raises QueryError naming the parameter)."""
    filters = {k: [v for v in vs if v] for k, vs in (filters or {}).items()}
    own = {k: vs for k, vs in filters.items() if k in ("kind", "skill", "contract_type", "remote")}
    shared = {k: vs for k, vs in filters.items() if k in ("theme", "region", "departement", "commune")}
    unknown = set(filters) - set(FACETS)
    if unknown:
        raise QueryError(f"unknown facet {sorted(unknown)[0]!r}")
    # text, territory and geo: the same rules as the project search
    base = parse_search(q=q, filters=shared, lat=lat, lon=lon, radius_km=radius_km, bbox=bbox,
                        sort="nearest" if sort == "nearest" else None, page=1, per_page=20)
    if sort not in (None, "", *SORTS):
        raise QueryError(f"sort must be one of {', '.join(SORTS)}")
    out: dict[str, tuple[str, ...]] = dict(base.filters)
    choices = {"kind": KINDS, "contract_type": CONTRACT_TYPES, "remote": REMOTE}
    for facet, values in own.items():
        values = [v.strip() for v in values if v.strip()]
        if len(values) > 50:
            raise QueryError(f"{facet}: at most 50 values")
        for v in values:
            ok = SKILL_SLUG.match(v) if facet == "skill" else v in choices[facet]
            if not ok:
                raise QueryError(f"{facet}: unknown value {v[:60]!r}")
        if values:
            out[facet] = tuple(dict.fromkeys(values))
    if project and not PROJECT_ID.match(project):
        raise QueryError("project: invalid project id")
    try:
        page_n = int(page) if page not in (None, "") else 1
        per = int(per_page) if per_page not in (None, "") else 20
    except (TypeError, ValueError):
        raise QueryError("page and per_page must be whole numbers") from None
    if page_n < 1 or not 1 <= per <= MAX_PER_PAGE:
        raise QueryError(f"page ≥ 1 and 1 ≤ per_page ≤ {MAX_PER_PAGE}")
    if page_n * per > MAX_RESULT_WINDOW:
        raise QueryError(f"results beyond the first {MAX_RESULT_WINDOW} are not served")
    chosen = sort or ("nearest" if base.geo is not None and not base.tokens else "relevance")
    if chosen == "nearest" and base.geo is None:
        raise QueryError("sort=nearest needs lat and lon")
    if chosen == "relevance" and not base.tokens:
        chosen = "newest"
    return PostQuery(q=base.q, tokens=tuple(base.tokens), filters=out, geo=base.geo, bbox=base.bbox,
                     project_id=project or None, sort=chosen, page=page_n, per_page=per,
                     include_closed=include_closed)


def search_text(title: str, description: str, skills: Iterable[str], extra: Iterable[str] = ()) -> tuple[str, str]:
    """(title_folded, body_folded) of a post: the title, then description, skill labels and place names."""
    body = " ".join([description, *(skill_label(s) for s in skills), *(e for e in extra if e)])
    return fold(title), fold(body)


# --------------------------------------------------------------------------- suggestions


EARTH_RADIUS_KM = 6371.0
SUGGEST_RADIUS_KM = 150.0
"""Beyond this, distance adds nothing (and an on-site post is not suggested without another match)."""


def distance_km(a_lat, a_lon, b_lat, b_lon) -> float | None:
    if None in (a_lat, a_lon, b_lat, b_lon):
        return None
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _km(d: float) -> str:
    return "même commune" if d < 1 else f"à {round(d)} km" if d >= 10 else f"à {d:.0f} km"


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "post" or "project"
    id: str
    title: str
    score: float
    reasons: tuple[str, ...]
    distance_km: float | None = None
    post_kind: str | None = None
    commune_name: str | None = None

    @property
    def explanation(self) -> str:
        return ", ".join(self.reasons)


def score(post: Mapping[str, Any], other: Mapping[str, Any], theme_labels: Mapping[str, str] | None = None
          ) -> tuple[float, list[str]]:
    """How well ``other`` (a post or a project document) answers ``post``, and why, in French.

    Skills shared weigh most, then themes, then nearness (linear up to 150 km); a remote-friendly
    side makes distance matter less. Zero when nothing but distance links them."""
    theme_labels = theme_labels or {}
    reasons: list[str] = []
    total = 0.0
    mine, theirs = set(post.get("skills") or ()), set(other.get("skills") or ())
    common_skills = [s for s in post.get("skills") or () if s in theirs]
    if common_skills:
        total += 3.0 * len(common_skills) / max(1, len(mine))
        names = ", ".join(skill_label(s) for s in common_skills[:3])
        reasons.append(("compétence commune : " if len(common_skills) == 1 else "compétences communes : ") + names)
    their_themes = set(other.get("themes") or other.get("theme") or ())
    common_themes = [t for t in post.get("themes") or () if t in their_themes]
    if common_themes:
        total += 1.5 * len(common_themes) / max(1, len(post.get("themes") or ()))
        reasons.append("même thématique" if len(common_themes) == 1 and not theme_labels
                       else "même thématique : " + ", ".join(theme_labels.get(t, t) for t in common_themes[:2]))
    if total == 0:
        return 0.0, []
    d = distance_km(post.get("lat"), post.get("lon"), other.get("lat"), other.get("lon"))
    remote = "remote" in (post.get("remote"), other.get("remote"))
    if d is not None and d <= SUGGEST_RADIUS_KM:
        total += (0.5 if remote else 1.5) * (1 - d / SUGGEST_RADIUS_KM)
        reasons.append(_km(d))
    elif d is not None and not remote:
        total *= 0.5
        reasons.append(_km(d))
    if remote:
        reasons.append("à distance possible")
    return round(total, 4), reasons


def rank_suggestions(post: Mapping[str, Any], posts: Iterable[Mapping[str, Any]],
                     projects: Iterable[Mapping[str, Any]], theme_labels: Mapping[str, str], limit: int = 6
                     ) -> dict[str, list[Suggestion]]:
    """The best answering posts (complementary kinds, not the post itself, not its author's) and
    projects (not its own project), each with the reasons."""
    out_posts: list[Suggestion] = []
    wanted = COMPLEMENTS[post["kind"]]
    for other in posts:
        if other["id"] == post["id"] or other.get("author_id") == post.get("author_id") or other["kind"] not in wanted:
            continue
        s, reasons = score(post, other, theme_labels)
        if s > 0:
            bonus = 0.25 if other["kind"] == wanted[0] else 0.0
            out_posts.append(Suggestion("post", other["id"], other["title"], s + bonus, tuple(reasons),
                                        _round(distance_km(post.get("lat"), post.get("lon"), other.get("lat"),
                                                           other.get("lon"))),
                                        other["kind"], other.get("commune_name")))
    out_projects: list[Suggestion] = []
    for doc in projects:
        if doc.get("id") == post.get("project_id"):
            continue
        s, reasons = score(post, {**doc, "themes": doc.get("theme") or ()}, theme_labels)
        if s > 0:
            out_projects.append(Suggestion("project", doc["id"], doc.get("title") or doc["id"], s, tuple(reasons),
                                           _round(distance_km(post.get("lat"), post.get("lon"), doc.get("lat"),
                                                              doc.get("lon"))),
                                           None, doc.get("commune_name")))
    key = (lambda s: (-s.score, s.distance_km if s.distance_km is not None else 1e9, s.id))
    return {"posts": sorted(out_posts, key=key)[:limit], "projects": sorted(out_projects, key=key)[:limit]}


def _round(d: float | None) -> float | None:
    return None if d is None else round(d, 1)
