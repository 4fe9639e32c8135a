"""Reports about a project (pure): what a visitor may report, how a report is checked, the rate
limits, what a moderator's decision does, and the message the reporter receives."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.gateway.contact.domain import Limit, first_exceeded, normalise_email

KINDS = {
    "closed": "Le projet a cessé son activité",
    "wrong_place": "Le projet est mal placé sur la carte",
    "wrong_info": "Des informations sont fausses",
    "duplicate": "C'est un doublon d'un autre projet",
}
DECISIONS = {"confirmed": "confirmé", "rejected": "écarté"}
DETAIL_MAX = 2_000
DETAIL_MIN_FOR = {"wrong_info": 10, "wrong_place": 5}
"""Kinds whose report means nothing without a few words of explanation."""
NOTE_MAX = 500
PAGE_SIZE = 30
PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
PROJECT_IN_URL = re.compile(r"/projets/([a-z0-9][a-z0-9-]{0,100})/?(?:[?#].*)?$")
LIMITS = (
    Limit("ip", 3600, 5, "Trop de signalements envoyés depuis votre connexion : réessayez dans une heure."),
    Limit("ip", 86400, 20, "Trop de signalements envoyés depuis votre connexion aujourd'hui : réessayez demain."),
)


@dataclass
class Draft:
    kind: str = ""
    detail: str = ""
    duplicate_of: str | None = None
    email: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    spam: bool = False


def project_ref(value: str | None) -> str | None:
    """A project named by its id or by the address of its page (``https://…/projets/<id>``)."""
    value = (value or "").strip()
    if PROJECT_ID.match(value):
        return value
    found = PROJECT_IN_URL.search(value)
    return found.group(1) if found else None


def check(project_id: str, kind: str | None, detail: str | None, duplicate_of: str | None, email: str | None,
          honeypot: str | None = None) -> Draft:
    """The report as the form sent it, with one French message per wrong field."""
    draft = Draft(kind=(kind or "").strip(), detail=" ".join((detail or "").split())[:DETAIL_MAX + 1])
    draft.spam = bool((honeypot or "").strip())
    if draft.kind not in KINDS:
        draft.errors["kind"] = "Choisissez ce que vous signalez."
    if len(draft.detail) > DETAIL_MAX:
        draft.errors["detail"] = f"{DETAIL_MAX} caractères au plus."
    elif len(draft.detail) < DETAIL_MIN_FOR.get(draft.kind, 0):
        draft.errors["detail"] = "Dites en quelques mots ce qui est faux."
    if draft.kind == "duplicate":
        draft.duplicate_of = project_ref(duplicate_of)
        if draft.duplicate_of is None:
            draft.errors["duplicate_of"] = "Indiquez l'adresse de la page de l'autre projet."
        elif draft.duplicate_of == project_id:
            draft.errors["duplicate_of"] = "Un projet ne peut pas être le doublon de lui-même."
    if (email or "").strip():
        address, problem = normalise_email(email)
        if problem:
            draft.errors["email"] = problem
        else:
            draft.email = address
    return draft


def exceeded(counts: dict[tuple[str, int], int]) -> Limit | None:
    return first_exceeded(LIMITS, counts)


class DecisionError(ValueError):
    pass


def decision(value: str | None) -> str:
    if value not in DECISIONS:
        raise DecisionError("Décision inconnue.")
    return value


def effect(kind: str, decided: str) -> str | None:
    """What a decision does to the project: ``closed`` (flag it), ``merge`` (dedup override), or nothing."""
    if decided != "confirmed":
        return None
    return {"closed": "closed", "duplicate": "merge"}.get(kind)


def pair(a_keys: list[str], b_keys: list[str]) -> tuple[str, str] | None:
    """The two source records a "same" override joins: the first record of each project, ordered."""
    if not a_keys or not b_keys:
        return None
    a, b = min(a_keys), min(b_keys)
    return (a, b) if a < b else (b, a) if a != b else None


def outcome_mail(*, title: str, kind: str, decided: str, page_url: str, note: str | None) -> str:
    """The message to the reporter (who left an address) once a moderator decided."""
    verdict = ("Merci : après vérification, nous avons pris en compte votre signalement."
               if decided == "confirmed" else
               "Après vérification, nous n'avons pas retenu votre signalement.")
    lines = ["Bonjour,", "", f"Vous nous avez signalé à propos du projet « {title} » : {KINDS[kind].lower()}.",
             "", verdict]
    if note:
        lines += ["", f"Le mot de la modération : {note}"]
    lines += ["", f"La page du projet : {page_url}", "", "L'équipe de Carrefour"]
    return "\n".join(lines)
