"""Pure rules of the review queue: decisions, pair keys, French labels, the side-by-side view."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

RECORD_KEY = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?:[^\s]{1,200}$")
DECISIONS = {"meme": "same", "differents": "not_same"}
"""Form value → override decision."""
DONE = {"meme": "Décision enregistrée : même projet. Les deux fiches vont être fusionnées.",
        "differents": "Décision enregistrée : projets différents. Les deux fiches resteront séparées."}
PAGE_SIZE = 20

COMPARISONS = {"title": "Titre", "description": "Description", "holder": "Porteur",
               "contact": "E-mail, téléphone ou site", "place": "Lieu"}
LEVELS = {
    "exact": "identique (hors habillage)", "contained": "l'un contient l'autre", "close": "très proche (coquille)",
    "related": "mots en commun", "other_town": "nomme deux villes différentes", "different": "différent",
    "near_identical": "presque identique", "similar": "semblable", "some": "en partie semblable",
    "same": "identique", "same_commune": "même commune", "same_postcode": "même code postal",
    "under_10km": "à moins de 10 km", "under_30km": "à moins de 30 km", "far": "à plus de 30 km",
    "same_departement": "même département", "other_departement": "autre département",
    "other_country": "autre pays",
}


class DecisionError(ValueError):
    """A decision the form cannot carry (unknown value, malformed or identical records)."""


def decision(value: str | None) -> str:
    if value not in DECISIONS:
        raise DecisionError("Choisissez « Même projet » ou « Projets différents ».")
    return DECISIONS[value]


def pair(a: str | None, b: str | None) -> tuple[str, str]:
    """The two records, ordered as stored (``record_a < record_b``)."""
    if not a or not b or not RECORD_KEY.match(a) or not RECORD_KEY.match(b) or a == b:
        raise DecisionError("Paire de fiches inconnue.")
    return (a, b) if a < b else (b, a)


def explanation_rows(explanation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each comparison, in French, with its weight (+ for "same", − for "different")."""
    rows = []
    for name, c in (explanation.get("comparisons") or {}).items():
        weight = float(c.get("weight") or 0.0)
        rows.append({"label": COMPARISONS.get(name, name), "level": LEVELS.get(c.get("level"), c.get("level")),
                     "weight": f"{weight:+.1f}".replace(".", ",").replace("-", "−"),
                     "leans": "same" if weight > 0 else "different" if weight < 0 else "neutral"})
    return rows


def _place(project: Mapping[str, Any], location: Mapping[str, Any]) -> str:
    commune = location.get("commune_name") or project.get("commune") or ""
    postcode = location.get("postcode") or project.get("postcode") or ""
    return " ".join(x for x in (postcode, commune) if x) or "—"


def _contact(project: Mapping[str, Any], name: str) -> str:
    return ((project.get("contact") or {}).get(name)) or "—"


def side_by_side(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, str]]:
    """Rows (label, value of each record) for two stored records (``project``, ``location``, ``source``)."""
    fields = [
        ("Partenaire", lambda r: r["source"]),
        ("Titre", lambda r: r["project"].get("title") or "—"),
        ("Lieu", lambda r: _place(r["project"], r["location"])),
        ("Adresse publiée", lambda r: r["project"].get("address") or "—"),
        ("Porteur", lambda r: r["project"].get("holder_name") or "—"),
        ("E-mail", lambda r: _contact(r["project"], "email")),
        ("Téléphone", lambda r: _contact(r["project"], "phone")),
        ("Site web", lambda r: _contact(r["project"], "website")),
        ("Description", lambda r: (r["project"].get("description") or r["project"].get("summary") or "—")[:600]),
    ]
    return [{"label": label, "a": get(a), "b": get(b)} for label, get in fields]


def percent(probability: float) -> str:
    return f"{100 * probability:.0f} %"
