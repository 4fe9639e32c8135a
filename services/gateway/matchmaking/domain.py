"""Pure matchmaking rules: what a post is, validation (French messages per field), expiry, who may
do what. The search query and the suggestions are in ``matching``. No I/O."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from libs.contracts.search import fold
from libs.contracts.taxonomy import taxonomy
from services.gateway.matchmaking.skills import SKILLS

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


def _required(errors: dict[str, str], field: str, value: Any, message: str) -> None:
    """``field`` must have a value: ``message`` unless the field is in error already."""
    if not value and field not in errors:
        errors[field] = message


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

    if kind in PROJECT_KINDS:
        _required(errors, "project_id", project_id, "Choisissez le projet que vous portez.")
    if kind in PERSON_KINDS:
        if project_id:
            errors["project_id"] = "Une recherche d'emploi ou une offre d'expertise n'est liée à aucun projet."
        _required(errors, "commune", commune, "Indiquez votre commune (nom, code postal ou code INSEE).")
        _required(errors, "skills", skills, "Indiquez au moins une compétence.")
        _required(errors, "availability", availability,
                  "Indiquez vos disponibilités (par exemple : deux jours par semaine).")
    if kind == "call_for_expertise":
        _required(errors, "skills", skills, "Indiquez au moins une compétence recherchée.")
    if kind == "job_offer":
        _required(errors, "contract_type", contract_type, "Choisissez le type de contrat.")
        _required(errors, "hours", hours, "Indiquez les horaires (par exemple : 35 h par semaine).")
        _required(errors, "start_date", start_date, "Indiquez la date de début.")
    if pay_min is not None or pay_max is not None:
        _required(errors, "pay_period", pay_period, "Précisez si le salaire est horaire, mensuel ou annuel.")
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
