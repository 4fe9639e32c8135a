""""Label : value" lines (``Commune : Lannion``, ``Stade : Consolidation``) → platform fields.

Partner pages often state a project's facts as labelled lines, table rows or definition lists
rather than in structured data; ``html_to_text(..., lines=True)`` writes all of these as
``label : value`` lines. A label is recognised by its folded words: the whole label, else its
first word (``Stade de développement`` → ``stade``). The same vocabulary names schema.org
``additionalProperty`` entries (``PropertyValue.name`` or ``propertyID``).
"""

from __future__ import annotations

import re
from typing import Any

from libs.contracts.search import fold
from services.crawler.parsing.common import split_labels

LABELS: dict[str, str] = {
    # place
    "commune": "commune", "ville": "commune", "lieu": "commune", "localite": "commune", "localisation": "commune",
    "implantation": "commune", "city": "commune", "locality": "commune",
    "code postal": "postcode", "cp": "postcode", "postcode": "postcode", "postal code": "postcode",
    "adresse": "address", "address": "address", "pays": "country", "country": "country",
    # classification
    "thematique": "themes", "thematiques": "themes", "theme": "themes", "themes": "themes", "domaine": "themes",
    "domaines": "themes", "domaine d action": "themes", "secteur": "themes", "secteurs": "themes",
    "categorie": "themes", "categories": "themes", "topic": "themes", "topics": "themes",
    "stade": "stage", "etape": "stage", "maturite": "stage", "avancement": "stage", "phase": "stage",
    "stage": "stage", "statut du projet": "stage", "etat d avancement": "stage", "maturity": "stage",
    # who
    "porteur": "holder.name", "porteuse": "holder.name", "structure porteuse": "holder.name",
    "porte par": "holder.name", "structure": "holder.name", "holder": "holder.name",
    "contact": "contact", "courriel": "contact", "email": "contact", "e mail": "contact", "mail": "contact",
    "telephone": "contact", "tel": "contact", "site": "contact.website", "site web": "contact.website",
    "site internet": "contact.website", "website": "contact.website",
}
"""Folded label → platform field (``contact``: an e-mail or a phone, told apart by its shape)."""

LINE = re.compile(r"^\s*([^:\n]{2,40}?)\s*:\s*(\S.{0,300}?)\s*$")
EMAIL = re.compile(r"[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]{1,252}\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?:\+33\s?|0)[1-9](?:[\s.\-]?\d{2}){4}")
POSTCODE_AFTER = re.compile(r"^(?P<name>[^()\d]{2,80}?)\s*\((?P<code>\d{5})\)$")
"""``Figeac (46100)``"""
POSTCODE_BEFORE = re.compile(r"^(?P<code>\d{5})\s+(?P<name>[^\d]{2,80})$")
"""``46100 Figeac``"""


def field_for(label: str) -> str | None:
    key = fold(label)
    if key in LABELS:
        return LABELS[key]
    words = key.split()
    return LABELS.get(words[0]) if words and len(words) <= 5 else None


def label_fields(text: str | None) -> tuple[dict[str, Any], set[int]]:
    """Fields from the ``label : value`` lines of a text, and the indexes of the lines used.

    The first value of a field wins; theme values accumulate."""
    found: dict[str, Any] = {}
    used: set[int] = set()
    for i, line in enumerate((text or "").splitlines()):
        m = LINE.match(line)
        if not m:
            continue
        target = field_for(m.group(1))
        if target is None:
            continue
        if put_value(found, target, m.group(2)):
            used.add(i)
    return found, used


def put_value(found: dict[str, Any], target: str, value: Any) -> bool:
    """Add one labelled value (a string, or a list for themes) to ``found``; False when unusable."""
    if isinstance(value, list):
        results = [put_value(found, target, v) for v in value]  # every value, not only up to the first
        return any(results)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return False
    value = str(value).strip().strip(".;")
    if not value:
        return False
    if target == "themes":
        found.setdefault("themes", []).extend(split_labels(value))
        return True
    if target == "contact":
        email, phone = EMAIL.search(value), PHONE.search(value)
        if email:
            found.setdefault("contact.email", email.group(0).removeprefix("mailto:"))
        if phone:
            found.setdefault("contact.phone", phone.group(0))
        return bool(email or phone)
    if target == "postcode":
        code = re.search(r"\b\d{5}\b", value)
        if code is None:
            return False
        value = code.group(0)
    if target == "commune":
        place = split_place(value)
        if place.get("postcode"):
            found.setdefault("postcode", place["postcode"])
        value = place.get("commune") or ""
        if not value:
            return False
    found.setdefault(target, value)
    return True


def split_place(value: str) -> dict[str, str]:
    """``Figeac (46100)`` / ``46100 Figeac`` → commune and postcode; ``Saint-Claude (39)`` → commune."""
    value = value.strip()
    for pattern in (POSTCODE_AFTER, POSTCODE_BEFORE):
        m = pattern.match(value)
        if m:
            return {"commune": m.group("name").strip(" ,-–"), "postcode": m.group("code")}
    value = re.sub(r"\s*\(\s*\d{2,3}\s*\)$", "", value)  # a département number
    return {"commune": value} if value else {}


ADDRESS_TAIL = re.compile(r"(?:^|,)\s*(?P<code>\d{4,5})\s+(?P<name>[^\d,]{2,80}?)\s*(?:,\s*(?P<country>[^\d,]{2,60}))?\s*$")
"""The end of a one-line address: ``…, 21000 Dijon`` or ``…, 1000 Bruxelles, Belgique``."""


def address_parts(value: str) -> dict[str, str]:
    """Postcode, locality and country at the end of a one-line address (nothing when absent)."""
    m = ADDRESS_TAIL.search(value)
    if not m:
        return {}
    out = {"postcode": m.group("code"), "commune": m.group("name").strip()}
    if m.group("country"):
        out["country"] = m.group("country").strip()
    return out
