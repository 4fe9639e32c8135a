"""From a request to a search: the query string read and validated, hits highlighted, facet labels.
Shared by the search API and the search pages."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State

from libs.contracts.taxonomy import FACETS, taxonomy
from services.gateway.search.rules import (
    QueryError,
    SearchQuery,
    highlight_hit,
    parse_search,
)

FACET_TITLES = {"theme": "Thématique", "stage": "Étape", "engineering": "Ingénierie", "holder_type": "Porteur",
                "source": "Source", "country": "Pays", "region": "Région", "departement": "Département", "commune": "Commune"}


def app_state(request: Request | ASGIConnection) -> State:
    return request.app.state


def query_of(q, theme, stage, engineering, holder_type, source, country, region, departement, commune,
           lat, lon, radius_km, bbox, sort, page, per_page) -> SearchQuery:
    filters = {k: v for k, v in dict(theme=theme, stage=stage, engineering=engineering, holder_type=holder_type,
                                     source=source, country=country, region=region, departement=departement,
                                     commune=commune).items() if v}
    return parse_search(q=q, filters=filters, lat=lat, lon=lon, radius_km=radius_km, bbox=bbox, sort=sort,
                        page=page, per_page=per_page)


def highlighted(hits: list[dict[str, Any]], query: SearchQuery) -> list[dict[str, Any]]:
    """Each hit gets ``highlight``: escaped HTML of the title and of a snippet, query words in <mark>."""
    tokens = tuple(query.tokens)
    for hit in hits:
        hit["highlight"] = highlight_hit(hit.get("title") or "", hit.get("summary") or "",
                                         hit.get("description") or "", tokens)
    return hits


def query_from(request: Request, **overrides) -> SearchQuery:
    """A SearchQuery from a request's query string (every search parameter, validated)."""
    p = request.query_params
    filters = {f: p.getall(f, []) for f in FACET_TITLES if p.getall(f, [])}
    args = dict(q=p.get("q"), filters=filters, lat=p.get("lat"), lon=p.get("lon"), radius_km=p.get("radius_km"),
                bbox=p.get("bbox"), sort=p.get("sort") or None, page=p.get("page") or 1,
                per_page=p.get("per_page") or 20)
    args.update(overrides)
    return parse_search(**args)


SEARCH_PARAMS = ("q", "lat", "lon", "radius_km", "bbox", "sort", "page", "per_page", "zoom", "format", "limit",
                 "theme", "stage", "engineering", "holder_type", "source", "country", "region", "departement", "commune")


def reject_unknown(request: Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0]!r}")


def labels_of(result: dict[str, Any]) -> dict[str, dict[str, str]]:
    tax = taxonomy()
    labels = {f: {t.slug: t.label for t in tax.terms(f)} for f in FACETS}
    for facet, values in result.get("labels", {}).items():
        labels[facet] = values
    return labels


async def stats_data(request: Request) -> dict[str, Any]:
    raw = await app_state(request).search.stats()
    labels = labels_of(raw)
    out: dict[str, Any] = {"total": raw["total"], "first_seen_by_month": raw["first_seen_by_month"]}
    for facet in ("theme", "region", "departement", "source", "stage", "engineering", "holder_type"):
        out[facet] = [{"value": v, "label": labels.get(facet, {}).get(v, v), "count": n}
                      for v, n in raw["facets"].get(facet, {}).items()]
    return out
