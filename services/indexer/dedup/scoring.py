"""Fellegi-Sunter scoring of a candidate pair, as in Splink: each comparison falls into a level
with an m probability (among true duplicates) and a u probability (among non-duplicates); the
level's weight is log2(m/u); the match weight is the prior plus the sum of the weights, and the
probability is 2^w / (1 + 2^w). Every level is stored with the match, so a decision can be
explained feature by feature.

m and u were set by hand from the labelled pairs in tests/data/dedup (see docs/dedup.md); a
false merge hides a project, so the threshold favours precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from services.indexer.dedup.features import Features

PRIOR = math.log2(1 / 60)  # about one candidate pair in sixty is a duplicate
MATCH_WEIGHT = 5.0  # probability ≥ 0.97
KEEP_WEIGHT = 0.0  # pairs below this are not stored


def _w(m: float, u: float) -> float:
    return round(math.log2(m / u), 3)


# comparison -> level -> weight
LEVELS: dict[str, dict[str, float]] = {
    "title": {
        "exact": _w(0.55, 0.002),  # the same words, in any order
        "same_name": _w(0.20, 0.003),  # the same name; the kind of project missing on one side
        "close": _w(0.12, 0.01),  # a typo or a word more in the name
        "generic_exact": _w(0.03, 0.01),  # both only say what kind of project ("Jardin partagé")
        "kind_differs": _w(0.005, 0.05),  # same name, but two different kinds of project
        "generic_vs_named": _w(0.02, 0.08),
        "related": _w(0.04, 0.10),
        "different": _w(0.04, 0.777),
    },
    "description": {
        "near_identical": _w(0.30, 0.003),
        "similar": _w(0.30, 0.04),
        "some": _w(0.35, 0.35),
        "different": _w(0.05, 0.607),
    },
    "holder": {"same": _w(0.60, 0.01), "close": _w(0.20, 0.03), "different": _w(0.20, 0.96)},
    "domain": {"same": _w(0.45, 0.01), "different": _w(0.30, 0.95)},
    "email": {"same": _w(0.50, 0.002), "different": _w(0.40, 0.95)},
    "phone": {"same": _w(0.50, 0.002), "different": _w(0.40, 0.95)},
    "place": {
        "same_commune": _w(0.90, 0.03),
        "same_departement": _w(0.03, 0.15),
        "different_departement": _w(0.01, 0.80),
        "different_country": _w(0.005, 0.07),
    },
    "distance": {"under_500m": _w(0.60, 0.01), "under_3km": _w(0.30, 0.05), "over_10km": _w(0.02, 0.80)},
}


@dataclass(frozen=True)
class Score:
    weight: float
    levels: dict[str, str] = field(default_factory=dict)
    """comparison -> level (absent: a value was missing on one side)"""
    similarities: dict[str, float] = field(default_factory=dict)
    rule: str | None = None
    """a hard rule that decided instead of the weights: ``same_url`` (one page: always the same
    project), ``same_source`` (a partner does not publish one project twice) or ``title_differs``
    (unrelated titles and no shared e-mail, phone or website: never merged on place and text alone)"""

    @property
    def probability(self) -> float:
        return 1 / (1 + 2 ** -max(min(self.weight, 60), -60))

    @property
    def matched(self) -> bool:
        if self.rule in ("same_source", "title_differs"):
            return False
        return self.rule == "same_url" or self.weight >= MATCH_WEIGHT

    def explain(self) -> dict:
        return {
            "weight": round(self.weight, 3),
            "probability": round(self.probability, 4),
            "rule": self.rule,
            "prior": round(PRIOR, 3),
            "comparisons": {k: {"level": v, "weight": LEVELS[k][v], "similarity": self.similarities.get(k)}
                            for k, v in self.levels.items()},
        }


def _haversine_km(a: Features, b: Features) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 12742 * math.asin(min(1.0, math.sqrt(h)))


def _title_level(a: Features, b: Features) -> tuple[str, float]:
    sort = fuzz.token_sort_ratio(a.title, b.title)
    if a.name and (a.title == b.title or sort == 100 or a.title.replace(" ", "") == b.title.replace(" ", "")):
        return "exact", 100.0
    if not a.name and not b.name:
        # only generic words and maybe the town: "Roubaix zéro déchet" names the town's own project
        if a.place_name and a.place_name == b.place_name and sort >= 90:
            return "exact", sort
        if a.place_name and b.place_name and a.place_name != b.place_name:
            return "different", sort
        return ("generic_exact" if sort >= 90 else "different"), sort
    if not a.name or not b.name:
        return "generic_vs_named", sort
    name = fuzz.token_sort_ratio(a.name, b.name)
    kinds_clash = bool(a.kind and b.kind and not set(a.kind) & set(b.kind))
    if name == 100:
        return ("kind_differs" if kinds_clash else "same_name"), name
    if name >= 88 or sort >= 90 or fuzz.ratio(a.title, b.title) >= 90:
        return ("kind_differs" if kinds_clash else "close"), max(name, sort)
    if fuzz.token_set_ratio(a.title, b.title) >= 80:
        return "related", sort
    return "different", sort


def score(a: Features, b: Features) -> Score:
    """Compare two records. Symmetric: score(a, b) == score(b, a)."""
    levels: dict[str, str] = {}
    sims: dict[str, float] = {}
    levels["title"], sims["title"] = _title_level(a, b)
    if len(a.description) >= 40 and len(b.description) >= 40:
        s = fuzz.token_sort_ratio(a.description, b.description)
        sims["description"] = round(s, 1)
        levels["description"] = ("near_identical" if s >= 92 else "similar" if s >= 75 else "some" if s >= 55
                                 else "different")
    if a.holder and b.holder:
        s = fuzz.token_sort_ratio(a.holder, b.holder)
        sims["holder"] = s
        levels["holder"] = "same" if s >= 95 else "close" if s >= 80 else "different"
    for name in ("domain", "email", "phone"):
        x, y = getattr(a, name), getattr(b, name)
        if x and y:
            levels[name] = "same" if x == y else "different"
    if a.country and b.country and a.country != b.country:
        levels["place"] = "different_country"
    elif a.commune and b.commune:
        levels["place"] = ("same_commune" if a.commune == b.commune
                           else "same_departement" if a.departement == b.departement else "different_departement")
    elif a.departement and b.departement and a.departement != b.departement:
        levels["place"] = "different_departement"
    if a.precise and b.precise:
        km = _haversine_km(a, b)
        sims["distance"] = round(km, 3)
        if km < 0.5:
            levels["distance"] = "under_500m"
        elif km < 3:
            levels["distance"] = "under_3km"
        elif km > 10:
            levels["distance"] = "over_10km"
    weight = PRIOR + sum(LEVELS[k][v] for k, v in levels.items())
    rule = None
    if a.url == b.url:
        rule = "same_url"
    elif a.source == b.source:
        rule = "same_source"
    elif levels["title"] == "different" and not any(levels.get(k) == "same" for k in ("email", "phone", "domain")):
        rule = "title_differs"  # two titles with nothing in common need a shared contact to merge
    return Score(weight=weight, levels=levels, similarities=sims, rule=rule)
