"""Shared by the matchmaking API and pages: the request's user, query parsing, labels, refusals."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException, ValidationException

from libs.contracts.taxonomy import taxonomy
from services.gateway.accounts.identity import current_user
from services.gateway.matchmaking import store
from services.gateway.matchmaking.domain import (
    CONTRACT_TYPES,
    KINDS,
    POST_ID,
    REMOTE,
    can_see,
    skill_label,
)
from services.gateway.matchmaking.matching import FACETS, parse_post_query
from services.gateway.matchmaking.service import Refused
from services.gateway.matchmaking.skills import labels as skill_labels
from services.gateway.search.rules import QueryError

log = structlog.get_logger()
API_CACHE = CacheControlHeader(max_age=30, public=True)
NO_STORE = CacheControlHeader(no_store=True)
PER_PAGE_HTML = 20
NEAR_RADII = ("5", "10", "25", "50", "100", "200")
NEAR_DEFAULT_KM = 25
MAX_MAP_POINTS = 2000
LIST_FIELDS = ("skills", "themes")
FORM_FIELDS = ("kind", "title", "description", "skills", "themes", "project_id", "commune", "remote", "deadline",
               "contract_type", "hours", "pay_min", "pay_max", "pay_period", "start_date", "availability")
SEARCH_PARAMS = ("q", "lat", "lon", "radius_km", "bbox", "sort", "page", "per_page", "project", "zoom", *FACETS)


# --------------------------------------------------------------------------- helpers


async def request_user(request: Request):
    return await current_user(request)


def state(request: Request):
    return request.app.state


def refusal(exc: Refused) -> Response:
    body: dict[str, Any] = {"status_code": exc.status, "detail": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    return Response(body, status_code=exc.status)


def theme_labels() -> dict[str, str]:
    return {t.slug: t.label for t in taxonomy().terms("theme")}


def public(post: dict[str, Any], base: str = "") -> dict[str, Any]:
    """A post as the API shows it: no author id, labels beside codes."""
    out = {k: v for k, v in post.items() if k not in ("author_id", "hidden_reason", "report_count")}
    out["url"] = f"{base}/annonces/{post['id']}"
    out["kind_label"] = KINDS[post["kind"]]
    out["skill_labels"] = [skill_label(s) for s in post.get("skills") or []]
    for k in ("start_date", "deadline", "created_at", "updated_at", "expires_at", "closed_at"):
        if out.get(k) is not None and not isinstance(out[k], str):
            out[k] = out[k].isoformat()
    return out


def labels_of(facets: dict[str, list]) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {"kind": dict(KINDS), "contract_type": dict(CONTRACT_TYPES),
                                         "remote": dict(REMOTE), "theme": theme_labels(), "skill": skill_labels()}
    for facet in ("skill",):
        for value, _label, _n in facets.get(facet, []):
            labels[facet].setdefault(value, skill_label(value))
    for facet in ("region", "departement", "commune"):
        labels[facet] = {v: (lbl or v) for v, lbl, _ in facets.get(facet, [])}
    return labels


def query_from(request: Request, **overrides):
    """The validated query of a request; a bad parameter is a 400 naming it."""
    try:
        return parse_query(request, **overrides)
    except QueryError as exc:
        raise ValidationException(str(exc)) from None


def parse_query(request: Request, allowed: tuple[str, ...] = SEARCH_PARAMS, **overrides):
    p = request.query_params
    unknown = sorted(set(p) - set(allowed))
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0]!r}")
    args = dict(q=p.get("q"), filters={f: p.getall(f, []) for f in FACETS if p.getall(f, [])}, lat=p.get("lat"),
                lon=p.get("lon"), radius_km=p.get("radius_km"), bbox=p.get("bbox"), sort=p.get("sort") or None,
                project=p.get("project") or None, page=p.get("page") or 1, per_page=p.get("per_page") or 20)
    args.update(overrides)
    return parse_post_query(**args)


async def search(request: Request, query) -> dict[str, Any]:
    async with state(request).engine.connect() as conn:
        return await store.search(conn, query)


async def visible_post(request: Request, post_id: str, user) -> dict[str, Any]:
    if not POST_ID.match(post_id):
        raise NotFoundException("Annonce introuvable")
    async with state(request).engine.connect() as conn:
        post_row = await store.get_post(conn, post_id)
    if post_row is None or not can_see(post_row, user.id if user else None, bool(user and user.has("moderator"))):
        raise NotFoundException("Annonce introuvable")
    return post_row


def form_dict(form) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in FORM_FIELDS:
        values = form.getall(name, []) if hasattr(form, "getall") else []
        if name in LIST_FIELDS:
            out[name] = [v for v in values if isinstance(v, str)][:50]
        else:
            value = values[-1] if values else None
            out[name] = value if isinstance(value, str) else None
    return out



def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"
