"""Offline gazetteer of French communes (pure: no network, no database).

Loads ``data/communes.csv.gz``, ``data/departements.csv`` and ``data/regions.csv``
(built by ``scripts/build_gazetteer.py``, see ``data/SOURCES.md``) into memory once
and answers lookups by INSEE code, postcode and name.

Coordinates: a commune's point is the centroid of its outline (``precision``
"commune"). The few communes without an outline carry their département's
centroid (``precision`` "departement"); overseas collectivities (zone "com")
have no coordinates at all (``precision`` "none", lat/lon None).
"""

from __future__ import annotations

import functools
from pathlib import Path

from libs.contracts.communes import (  # noqa: F401 (re-exported)
    ARTICLES,
    DATA_DIR,
    Commune,
    Departement,
    Region,
    load_reference,
    normalize_name,
)

__all__ = [
    "Commune",
    "Departement",
    "Gazetteer",
    "Region",
    "default_gazetteer",
    "normalize_insee",
    "normalize_name",
    "normalize_postcode",
]


# ---------------------------------------------------------------------------
# Normalisation


_normalize = normalize_name.__wrapped__  # uncached, for bulk indexing at load time


def _strip_article(key: str) -> str:
    head, _, rest = key.partition(" ")
    return rest if rest and head in ARTICLES else key


def _strip_parenthetical(name: str) -> str:
    """"Château-Chinon (Ville)" -> "Château-Chinon" (leaves "Mans (Le)" alone: callers
    normalise first)."""
    i = name.find("(")
    return name[:i].strip() if i > 0 else name


def normalize_postcode(postcode: str | int | None) -> str | None:
    """"51 100" -> "51100", 1400 -> "01400"; None for anything that is not 5 digits."""
    if postcode is None:
        return None
    p = "".join(str(postcode).split())
    if p.isdigit() and len(p) == 4:
        p = "0" + p
    return p if len(p) == 5 and p.isdigit() else None


def normalize_insee(code: str | int | None) -> str | None:
    """"1001" -> "01001", "2a004" -> "2A004"; None if it cannot be an INSEE code."""
    if code is None:
        return None
    c = "".join(str(code).split()).upper()
    if c.isdigit() and len(c) == 4:
        c = "0" + c
    return c if len(c) == 5 and c.isalnum() else None


# ---------------------------------------------------------------------------
# Records (Commune, Departement, Region) and their loading: libs/contracts/communes.py


def _norm_dep(code: str | int) -> str:
    c = str(code).strip().upper()
    return "0" + c if c.isdigit() and len(c) == 1 else c


def _rank(c: Commune) -> tuple[int, int, str]:
    """Sort key: communes before arrondissements, then most populated first."""
    return (c.kind != "COM", -c.population, c.code)


def _ranked(index: dict[str, list[Commune]]) -> dict[str, tuple[Commune, ...]]:
    return {k: tuple(sorted(v, key=_rank)) if len(v) > 1 else (v[0],) for k, v in index.items()}


# ---------------------------------------------------------------------------
# Gazetteer


class Gazetteer:
    """In-memory indexes over the communes files. Build with :meth:`load`."""

    __slots__ = ("_by_alt_name", "_by_code", "_by_name", "_by_postcode", "_dep_by_prefix", "_deps", "_regs")

    def __init__(
        self,
        communes: list[Commune],
        departements: dict[str, Departement],
        regions: dict[str, Region],
    ) -> None:
        self._deps = departements
        self._regs = regions
        by_code: dict[str, Commune] = {}
        by_postcode: dict[str, list[Commune]] = {}
        by_name: dict[str, list[Commune]] = {}
        by_alt: dict[str, list[Commune]] = {}
        dep_by_prefix: dict[str, set[str]] = {}
        for c in communes:
            by_code[c.code] = c
            for p in c.postcodes:
                by_postcode.setdefault(p, []).append(c)
                dep_by_prefix.setdefault(p[:3], set()).add(c.departement)
            key = _normalize(c.name)
            by_name.setdefault(key, []).append(c)
            # Fallback keys: without the article ("Mans" -> Le Mans) and without a
            # parenthetical qualifier ("Château-Chinon" -> both Château-Chinon (…)).
            alts = {_strip_article(key)}
            if "(" in c.name:
                alts.add(_normalize(_strip_parenthetical(c.name)))
            alts.discard(key)
            for alt in alts:
                by_alt.setdefault(alt, []).append(c)
        self._by_code = by_code
        self._by_postcode = _ranked(by_postcode)
        self._by_name = _ranked(by_name)
        self._by_alt_name = _ranked(by_alt)
        self._dep_by_prefix = {k: frozenset(v) for k, v in dep_by_prefix.items()}

    # -- loading -------------------------------------------------------------

    @classmethod
    def load(cls, data_dir: str | Path | None = None) -> Gazetteer:
        return cls(*load_reference(data_dir))

    # -- lookups -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self):
        return iter(self._by_code.values())

    def by_code(self, code: str | int | None) -> Commune | None:
        c = normalize_insee(code)
        return self._by_code.get(c) if c else None

    def by_postcode(self, postcode: str | int | None) -> list[Commune]:
        """Communes (then arrondissements) served by a postcode, most populated first."""
        p = normalize_postcode(postcode)
        return list(self._by_postcode.get(p, ())) if p else []

    def has_postcode(self, postcode: str) -> bool:
        """A five-digit postcode that serves at least one commune."""
        return postcode in self._by_postcode

    def by_name(
        self, name: str | None, postcode: str | int | None = None, departement: str | None = None
    ) -> list[Commune]:
        """Communes whose name matches, most populated first (communes before arrondissements).

        Exact normalised names win; only if none matches, names without their article
        ("Mans") or without a parenthetical qualifier ("Château-Chinon") are tried.
        """
        key = normalize_name(name or "")
        if not key:
            return []
        p = normalize_postcode(postcode) if postcode is not None else None
        if postcode is not None and p is None:
            return []
        dep = _norm_dep(departement) if departement else None

        def keep(c: Commune) -> bool:
            return (p is None or p in c.postcodes) and (dep is None or c.departement == dep)

        bare = _strip_article(key)
        tiers = [self._by_name.get(key, ()), self._by_alt_name.get(key, ())]
        if bare != key:  # "Le Xxx" asked, stored without article or as "Xxx (…)"
            tiers += [self._by_name.get(bare, ()), self._by_alt_name.get(bare, ())]
        for cands in tiers:
            found = [c for c in cands if keep(c)]
            if found:
                return found
        return []

    def departements_for_postcode(self, postcode: str | int | None) -> frozenset[str]:
        """Départements of the communes whose postcodes share its first 3 digits
        (works for CEDEX and unknown postcodes of a known area)."""
        p = normalize_postcode(postcode)
        return self._dep_by_prefix.get(p[:3], frozenset()) if p else frozenset()

    def resolve(
        self,
        commune: str | None = None,
        postcode: str | int | None = None,
        insee: str | int | None = None,
    ) -> tuple[Commune | None, str]:
        """Best commune for partner-supplied fields, and how it was found.

        Methods, most to least precise: "insee", "commune+postcode" (name matches a
        commune served by that postcode), "commune" (unique name match, possibly
        narrowed to the postcode's département), "commune-ambiguous" (several
        communes share the name: the most populated is returned), "postcode"
        (name missing or not matching: the most populated commune of the
        postcode), "none". Arrondissements are only returned for an explicit
        INSEE code, or a name that designates them ("Paris 15e Arrondissement").
        """
        if insee is not None:
            c = self.by_code(insee)
            if c is not None:
                return c, "insee"

        if commune and postcode is not None:
            found = self.by_name(commune, postcode=postcode)
            if found:
                return found[0], "commune+postcode" if len(found) == 1 else "commune-ambiguous"
            # CEDEX / mistyped postcode: same name within the postcode's département(s).
            deps = self.departements_for_postcode(postcode)
            if deps:
                found = [c for c in self.by_name(commune) if c.departement in deps]
                if found:
                    return found[0], "commune" if len(found) == 1 else "commune-ambiguous"

        if postcode is not None:
            found = [c for c in self.by_postcode(postcode) if c.kind == "COM"]
            if found:
                return found[0], "postcode"

        if commune:
            found = self.by_name(commune)
            if found:
                return found[0], "commune" if len(found) == 1 else "commune-ambiguous"

        return None, "none"

    def departement(self, code: str | None) -> Departement | None:
        return self._deps.get(_norm_dep(code)) if code else None

    def region(self, code: str | None) -> Region | None:
        if not code:
            return None
        c = str(code).strip()
        if c.isdigit() and len(c) == 1:
            c = "0" + c
        return self._regs.get(c)

    def departements(self) -> list[Departement]:
        return list(self._deps.values())

    def regions(self) -> list[Region]:
        return list(self._regs.values())


@functools.lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The gazetteer built from the packaged data files, loaded once per process."""
    return Gazetteer.load()
