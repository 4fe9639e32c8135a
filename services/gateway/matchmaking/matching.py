"""Pure matchmaking rules for finding posts: the search query and the suggestions (with their
explanations in French). No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from libs.contracts.geo import distance_km
from libs.contracts.search import fold
from services.gateway.matchmaking.domain import (
    COMPLEMENTS,
    CONTRACT_TYPES,
    KINDS,
    MAX_PER_PAGE,
    MAX_RESULT_WINDOW,
    PROJECT_ID,
    REMOTE,
    SKILL_SLUG,
    skill_label,
)
from services.gateway.search.rules import BBox, Geo, QueryError, parse_search

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
    shared = {k: list(vs) for k, vs in filters.items() if k in ("theme", "region", "departement", "commune")}
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


SUGGEST_RADIUS_KM = 150.0
"""Beyond this, distance adds nothing (and an on-site post is not suggested without another match)."""


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
