"""Pure rules of claims and holder edits: tokens, who may decide, validation of the fields a holder
edits (French messages), e-mail texts. No I/O."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from libs.contracts.taxonomy import taxonomy

PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
CONFIRM_TTL = timedelta(days=7)
MAX_MESSAGE = 1000
MAX_REASON = 500

PUBLISHED_FIELDS = ("summary", "description", "website", "stage", "themes")
"""Holder-owned fields laid over the partners' values in the search index (HolderEditChanged)."""
PRIVATE_FIELDS = ("contact_email",)
"""Holder-owned, never published: where the platform's contact form writes."""
EDITABLE_FIELDS = PUBLISHED_FIELDS + PRIVATE_FIELDS
LIMITS = {"summary": 500, "description": 10_000, "website": 2048, "contact_email": 254}
MAX_THEMES = 8

STATUS_LABELS = {"pending": "en attente", "approved": "acceptée", "rejected": "refusée", "withdrawn": "retirée",
                 "revoked": "révoquée"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")


# --------------------------------------------------------------------------- tokens


def new_token() -> tuple[str, str]:
    """A random confirmation token (for the e-mail) and its SHA-256 (what is stored)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def plausible_token(token: str) -> bool:
    return 20 <= len(token) <= 100 and re.fullmatch(r"[A-Za-z0-9_\-]+", token) is not None


def mask_email(email: str) -> str:
    """``jeanne.dupont@exemple.org`` → ``j…@exemple.org``: tells the claimant where the link went
    without handing the address out."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"


# --------------------------------------------------------------------------- who may do what


def published_contact(doc: Mapping[str, Any] | None) -> str | None:
    """The e-mail the partners publish for the project (where a confirmation link may go), only
    when all its sources agree on it: a partner publishing a look-alike record with its own
    e-mail must not receive another project's confirmation link (the claim goes to review)."""
    project = (doc or {}).get("project") or {}
    if project.get("contact_agreed") is False:
        return None
    contact = project.get("contact") or {}
    email = contact.get("email") if isinstance(contact, Mapping) else None
    return email if isinstance(email, str) and "@" in email else None


def project_sources(doc: Mapping[str, Any] | None) -> list[str]:
    """Partner slugs that publish the project."""
    doc = doc or {}
    sources = doc.get("source")
    if not sources:
        sources = [s.get("partner") for s in (doc.get("project") or {}).get("sources") or [] if isinstance(s, Mapping)]
    return sorted({s for s in sources or [] if isinstance(s, str) and s})


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    status: int = 200  # 401 / 403 / 409 when not allowed
    reason: str = ""


def may_claim(*, verified: bool, is_holder_role: bool, current_holder: int | None, user_id: int) -> Verdict:
    if not verified or not is_holder_role:
        return Verdict(False, 403, "Confirmez d'abord votre adresse e-mail pour revendiquer un projet.")
    if current_holder == user_id:
        return Verdict(False, 409, "Vous gérez déjà ce projet.")
    if current_holder is not None:
        return Verdict(False, 409, "Ce projet est déjà géré par son porteur.")
    return Verdict(True)


def may_review(*, user_id: int, is_operator: bool, partner: str | None, claimant_id: int,
               sources: Iterable[str]) -> Verdict:
    """An operator decides any claim; a partner user those on projects their organisation
    publishes; nobody decides their own claim."""
    if claimant_id == user_id:
        return Verdict(False, 403, "Vous ne pouvez pas décider de votre propre revendication.")
    if is_operator:
        return Verdict(True)
    if partner and partner in set(sources):
        return Verdict(True)
    return Verdict(False, 403, "Seul un partenaire qui publie ce projet, ou un opérateur, peut en décider.")


def may_edit(*, user_id: int, verified: bool, holder: int | None) -> Verdict:
    if holder is None or holder != user_id:
        return Verdict(False, 403, "Seul le porteur confirmé de ce projet peut le modifier.")
    if not verified:
        return Verdict(False, 403, "Confirmez d'abord votre adresse e-mail.")
    return Verdict(True)


def confirm_verdict(*, status: str, expires_at: datetime | None, now: datetime) -> Verdict:
    if status != "pending":
        return Verdict(False, 409, "Cette demande a déjà été traitée.")
    if expires_at is None or expires_at <= now:
        return Verdict(False, 410, "Ce lien a expiré ; la demande attend l'accord d'un partenaire ou d'un opérateur.")
    return Verdict(True)


# --------------------------------------------------------------------------- holder edits


@dataclass
class EditResult:
    fields: dict[str, Any] = field(default_factory=dict)   # published: name → value, None = the partners' value
    contact_email: str | None = None
    errors: dict[str, str] = field(default_factory=dict)    # name → French message

    @property
    def ok(self) -> bool:
        return not self.errors


def _text(value: Any, name: str, *, multiline: bool, errors: dict[str, str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = "Texte attendu."
        return None
    value = value.replace("\r\n", "\n").strip()
    if not value:
        return None
    if (_CONTROL if multiline else _CONTROL_LINE).search(value):
        errors[name] = "Caractères de contrôle interdits."
        return None
    if len(value) > LIMITS[name]:
        errors[name] = f"{LIMITS[name]} caractères au plus ({len(value)} saisis)."
        return None
    return value


def _website(value: Any, errors: dict[str, str]) -> str | None:
    value = _text(value, "website", multiline=False, errors=errors)
    if value is None:
        return None
    parts = urlsplit(value)
    if any(c.isspace() for c in value) or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        errors["website"] = "Adresse web complète attendue, commençant par https:// ou http://."
        return None
    if parts.username or parts.password:
        errors["website"] = "L'adresse ne doit pas contenir d'identifiants."
        return None
    return value


def _email(value: Any, errors: dict[str, str]) -> str | None:
    value = _text(value, "contact_email", multiline=False, errors=errors)
    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        errors["contact_email"] = "Adresse e-mail invalide."
        return None


def _choice(value: Any, facet: str, name: str, errors: dict[str, str]) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or value not in taxonomy().slugs(facet):
        errors[name] = "Valeur inconnue : choisissez dans la liste."
        return None
    return value


def _themes(value: Any, errors: dict[str, str]) -> list[str] | None:
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors["themes"] = "Liste de thématiques attendue."
        return None
    known = taxonomy().slugs("theme")
    unknown = [v for v in value if v not in known]
    if unknown:
        errors["themes"] = f"Thématique inconnue : {unknown[0][:40]}."
        return None
    out = list(dict.fromkeys(value))
    if len(out) > MAX_THEMES:
        errors["themes"] = f"{MAX_THEMES} thématiques au plus."
        return None
    return out


def validate_edit(data: Mapping[str, Any]) -> EditResult:
    """The holder's input (form or JSON) → published fields, private contact e-mail, errors. An
    empty field means "show the partners' value"; unknown names are an error."""
    result = EditResult()
    errors = result.errors
    for name in data:
        if name not in EDITABLE_FIELDS:
            errors[str(name)[:40]] = "Champ inconnu."
    result.fields = {
        "summary": _text(data.get("summary"), "summary", multiline=False, errors=errors),
        "description": _text(data.get("description"), "description", multiline=True, errors=errors),
        "website": _website(data.get("website"), errors),
        "stage": _choice(data.get("stage"), "stage", "stage", errors),
        "themes": _themes(data.get("themes"), errors),
    }
    result.contact_email = _email(data.get("contact_email"), errors)
    if errors:
        result.fields = {}
        result.contact_email = None
    return result


def event_fields(fields: Mapping[str, Any]) -> dict[str, str | list[str] | None]:
    """Every published field, None for "the partners' value" (the event carries the full state)."""
    return {name: fields.get(name) for name in PUBLISHED_FIELDS}


# --------------------------------------------------------------------------- e-mails


def confirmation_mail(*, project_title: str, claimant: str, link: str, expires: datetime) -> tuple[str, str]:
    subject = f"Confirmez la gestion du projet « {project_title[:120]} » sur Carrefour"
    body = (
        "Bonjour,\n\n"
        f"{claimant} demande à gérer la fiche du projet « {project_title} » sur Carrefour, la plateforme "
        "des innovations sociales. Cette adresse est le contact publié du projet : si vous connaissez "
        "cette personne et qu'elle porte bien le projet, confirmez sa demande en ouvrant ce lien :\n\n"
        f"{link}\n\n"
        f"Le lien est valable jusqu'au {expires:%d/%m/%Y à %H:%M} (UTC) et ne sert qu'une fois. "
        "Si vous ne connaissez pas cette demande, ignorez ce message : rien ne changera.\n\n"
        "— Carrefour\n"
    )
    return subject, body


def review_mail(*, project_title: str, claimant: str, link: str) -> tuple[str, str]:
    subject = f"Demande à examiner : gestion du projet « {project_title[:120]} »"
    body = (f"Bonjour,\n\n{claimant} demande à gérer la fiche du projet « {project_title} », que votre "
            "organisation publie sur Carrefour. Vous pouvez accepter ou refuser la demande ici :\n\n"
            f"{link}\n\n— Carrefour\n")
    return subject, body


def decision_mail(*, project_title: str, approved: bool, link: str, reason: str | None) -> tuple[str, str]:
    if approved:
        subject = f"Vous gérez désormais le projet « {project_title[:120]} »"
        body = (f"Bonjour,\n\nVotre demande est acceptée : vous pouvez modifier la fiche du projet "
                f"« {project_title} » ici :\n\n{link}\n\n— Carrefour\n")
    else:
        subject = f"Votre demande sur le projet « {project_title[:120]} » n'a pas été acceptée"
        body = (f"Bonjour,\n\nVotre demande de gestion du projet « {project_title} » n'a pas été acceptée."
                + (f"\n\nMotif : {reason}" if reason else "") + "\n\n— Carrefour\n")
    return subject, body
