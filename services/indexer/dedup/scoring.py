"""Fellegi-Sunter scoring of a candidate pair, as in Splink: each comparison falls into a level
with an m probability (among true duplicates) and a u probability (among non-duplicates); the
level's weight is log2(m/u); the match weight is the prior plus the sum of the weights, and the
probability is 2^w / (1 + 2^w). Every level is stored with the match, so a decision can be
explained comparison by comparison.

m, u and the prior are not set by hand: they are estimated offline (u from random pairs, m and
the prior by expectation-maximisation over unlabelled candidate pairs of a generated corpus, see
``tests/data/dedup/train.py`` and docs/dedup.md) and shipped in ``weights.json``, read once here.
Scoring is pure and incremental: one pair at a time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz

from libs.contracts.geo import haversine_km
from services.indexer.dedup.features import Features

WEIGHTS_FILE = Path(__file__).with_name("weights.json")
MATCH_PROBABILITY = 0.999
"""Merged automatically at or above this probability: a false merge hides a project."""
REVIEW_PROBABILITY = 0.95
"""Between this and MATCH_PROBABILITY a pair goes to the moderators' review queue, unmerged."""
MATCH_WEIGHT = math.log2(MATCH_PROBABILITY / (1 - MATCH_PROBABILITY))
REVIEW_WEIGHT = math.log2(REVIEW_PROBABILITY / (1 - REVIEW_PROBABILITY))
KEEP_WEIGHT = 0.0  # pairs below this (more likely different than the same) are not stored
FAR_KM = 30.0
"""Two records further apart than this are never merged on text alone (a shared e-mail, phone or
website can still merge them: a project that moved, a partner that geocoded its office)."""
CONTACTS = ("email", "phone", "domain")
FAR_LEVELS = ("far", "other_country")

# comparison -> its levels, from the most to the least alike (the order of the vectors in training)
COMPARISONS: dict[str, tuple[str, ...]] = {
    "title": ("exact", "contained", "close", "related", "other_town", "different"),
    "description": ("near_identical", "similar", "some", "different"),
    "holder": ("same", "close", "different"),
    "contact": ("same", "different"),
    "place": ("same_commune", "same_postcode", "under_10km", "under_30km", "far", "same_departement", "other_departement",
              "other_country"),
}


def _load_weights(path: Path = WEIGHTS_FILE) -> tuple[float, dict[str, dict[str, float]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    prior = data["prior"]
    levels = {name: {level: round(math.log2(p["m"] / p["u"]), 3) for level, p in data["comparisons"][name].items()}
              for name in COMPARISONS}
    return round(math.log2(prior / (1 - prior)), 3), levels


PRIOR, LEVELS = _load_weights()


@dataclass(frozen=True)
class Score:
    weight: float
    levels: dict[str, str] = field(default_factory=dict)
    """comparison -> level (absent: a value was missing on one side)"""
    similarities: dict[str, float] = field(default_factory=dict)
    rule: str | None = None
    """a hard rule that decided instead of the weights: ``same_url`` (one page: always the same
    project), ``same_source`` (a partner does not publish one project twice), ``far_apart`` (more
    than FAR_KM apart and no shared e-mail, phone or website) or ``title_differs`` (unrelated
    titles, or titles naming two towns: never merged automatically)"""

    @property
    def probability(self) -> float:
        return 1 / (1 + 2 ** -max(min(self.weight, 60), -60))

    @property
    def matched(self) -> bool:
        if self.rule is not None:
            return self.rule == "same_url"
        return self.weight >= MATCH_WEIGHT

    @property
    def review(self) -> bool:
        """Neither surely the same nor surely different: a moderator decides."""
        return self.rule is None and REVIEW_WEIGHT <= self.weight < MATCH_WEIGHT

    def explain(self) -> dict:
        return {
            "weight": round(self.weight, 3),
            "probability": round(self.probability, 4),
            "rule": self.rule,
            "review": self.review,
            "prior": PRIOR,
            "comparisons": {k: {"level": v, "weight": LEVELS[k][v], "similarity": self.similarities.get(k)}
                            for k, v in self.levels.items()},
        }


def _title_level(a: Features, b: Features) -> tuple[str, float]:
    if a.title_town and b.title_town and a.title_town != b.title_town and a.city != b.city:
        return "other_town", 0.0  # "Ressourcerie numérique de Brest" / "… de Dijon"
    if not a.title or not b.title:
        return "different", 0.0
    x, y = set(a.title.split()), set(b.title.split())
    if x == y or set(a.tokens) == set(b.tokens):  # the same name, or the same words in other segments
        return "exact", 100.0
    if x <= set(b.tokens) or y <= set(a.tokens):
        return "contained", 100.0 * min(len(x), len(y)) / max(len(x), len(y))
    ratio = fuzz.ratio(a.title, b.title)
    if ratio >= 88 or fuzz.token_sort_ratio(a.title, b.title) >= 90:
        return "close", ratio
    set_ratio = fuzz.token_set_ratio(" ".join(a.tokens), " ".join(b.tokens))
    if set_ratio >= 75:
        return "related", set_ratio
    return "different", set_ratio


def _place_level(a: Features, b: Features) -> tuple[str | None, float | None]:
    if a.country and b.country and a.country != b.country:
        return "other_country", None
    if a.commune and (a.commune == b.commune or (a.city == b.city and a.city in (a.commune, b.commune))):
        return "same_commune", 0.0  # an arrondissement equals its city; two arrondissements are not one place
    if a.postcode and a.postcode == b.postcode:
        return "same_postcode", None  # one postcode, several communes: which one is uncertain
    if a.located and b.located and a.lat is not None and a.lon is not None and b.lat is not None \
            and b.lon is not None:
        km = haversine_km(a.lat, a.lon, b.lat, b.lon)
        return ("under_10km" if km < 10 else "under_30km" if km <= FAR_KM else "far"), round(km, 2)
    if a.departement and b.departement:
        return ("same_departement" if a.departement == b.departement else "other_departement"), None
    return None, None


def compare(a: Features, b: Features, stop_if_far: bool = False) -> tuple[dict[str, str], dict[str, float]]:
    """The level of each comparison (absent when a side is missing it), and the similarities.
    ``stop_if_far``: two records far apart without a shared contact can never merge; their
    description and holder are then not compared (most candidate pairs from nationwide name
    blocks are such pairs)."""
    levels: dict[str, str] = {}
    sims: dict[str, float] = {}
    # e-mail, phone and website are one comparison: they name the same organisation together (an
    # organisation running two projects shares all three), so they are not counted three times
    both = [(getattr(a, n), getattr(b, n)) for n in CONTACTS if getattr(a, n) and getattr(b, n)]
    if both:
        levels["contact"] = "same" if any(x == y for x, y in both) else "different"
    place, km = _place_level(a, b)
    if place:
        levels["place"] = place
        if km is not None:
            sims["place"] = km
    levels["title"], sims["title"] = _title_level(a, b)
    if stop_if_far and place in FAR_LEVELS and levels.get("contact") != "same":
        return levels, sims
    if len(a.description) >= 40 and len(b.description) >= 40:
        s = fuzz.token_sort_ratio(a.description, b.description)
        sims["description"] = round(s, 1)
        levels["description"] = ("near_identical" if s >= 92 else "similar" if s >= 75 else "some" if s >= 55
                                 else "different")
    if a.holder and b.holder:
        s = fuzz.token_sort_ratio(a.holder, b.holder)
        sims["holder"] = s
        levels["holder"] = "same" if s >= 95 else "close" if s >= 80 else "different"
    return levels, sims


def score(a: Features, b: Features) -> Score:
    """Compare two records. Symmetric: score(a, b) == score(b, a)."""
    levels, sims = compare(a, b, stop_if_far=a.url != b.url and a.source != b.source)
    weight = PRIOR + sum(LEVELS[k][v] for k, v in levels.items())
    rule = None
    shared_contact = levels.get("contact") == "same"
    if a.url == b.url:
        rule = "same_url"
    elif a.source == b.source:
        rule = "same_source"
    elif levels.get("place") in FAR_LEVELS and not shared_contact:
        rule = "far_apart"
    elif levels["title"] in ("different", "other_town"):
        rule = "title_differs"
    return Score(weight=weight, levels=levels, similarities=sims, rule=rule)


_BEST_DESCRIPTION = max(0.0, *LEVELS["description"].values())


def score_if_kept(a: Features, b: Features) -> Score | None:
    """``score(a, b)`` when the pair is matched or kept (weight ≥ KEEP_WEIGHT), else None. The
    same decisions as ``score``, cheaper for the pairs that are neither (most candidate pairs):
    contact, place and holder are compared first, the title only when its best level could still
    bring the weight up to KEEP_WEIGHT, and the description (the costly one) only when its best
    level could still do so after the title (then the pair is scored in full by ``score``)."""
    if a.url == b.url:
        return score(a, b)
    weight = PRIOR
    ae, be, ap, bp, ad, bd = a.email, b.email, a.phone, b.phone, a.domain, b.domain  # CONTACTS
    contact = bool((ae and ae == be) or (ap and ap == bp) or (ad and ad == bd))
    if contact:
        weight += _CONTACT_SAME
    elif (ae and be) or (ap and bp) or (ad and bd):
        weight += _CONTACT_DIFFERENT
    place, _ = _place_level(a, b)
    if place:
        weight += _PLACE[place]
    if not (a.source != b.source and place in FAR_LEVELS and not contact):  # else neither is compared
        if a.holder and b.holder:
            h = fuzz.token_sort_ratio(a.holder, b.holder)
            weight += _HOLDER["same" if h >= 95 else "close" if h >= 80 else "different"]
        if len(a.description) >= 40 and len(b.description) >= 40:
            weight += _BEST_DESCRIPTION
    if weight + _BEST_TITLE < KEEP_WEIGHT - 1e-6:
        return None
    if weight + _TITLE[_title_level(a, b)[0]] < KEEP_WEIGHT - 1e-6:
        return None
    s = score(a, b)
    return s if s.matched or s.weight >= KEEP_WEIGHT else None


_CONTACT_SAME, _CONTACT_DIFFERENT = LEVELS["contact"]["same"], LEVELS["contact"]["different"]
_PLACE, _TITLE, _HOLDER = LEVELS["place"], LEVELS["title"], LEVELS["holder"]
_BEST_TITLE = max(0.0, *_TITLE.values())
