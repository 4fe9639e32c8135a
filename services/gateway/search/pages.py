"""The search pages (French): the search page with its filters and map, and the statistics page."""

from __future__ import annotations

from litestar import MediaType, Request, get
from litestar.response import Template

from services.gateway.reports.service import closed_among
from services.gateway.search.params import (
    FACET_TITLES,
    SEARCH_PARAMS,
    app_state,
    highlighted,
    labels_of,
    query_from,
    stats_data,
)
from services.gateway.search.posts import matching_posts
from services.gateway.search.rules import MAX_RADIUS_KM, QueryError, parse_search

PER_PAGE_HTML = 20
GEO_PARAMS = ("lat", "lon", "radius_km", "bbox")
OPEN_FACETS = ("theme", "region")
"""Filter groups open at first (the others open when one of their values is active)."""
MAX_WIDEN = 6
"""Ways to widen a search that found nothing, each counted by one more search (at most this many)."""


async def widen(request: Request, items: list[tuple[str, str]], labels: dict) -> list[dict]:
    """For a search that found nothing: the searches one step wider — without one filter, with the
    radius doubled, without the radius, without the map zone — that find something, with their totals."""
    params = request.query_params
    offers: list[tuple[str, list[tuple[str, str]]]] = []
    for k, v in items:
        if k in FACET_TITLES:
            offers.append((f"sans le filtre {FACET_TITLES[k]} : {labels.get(k, {}).get(v, v)}",
                           [(a, b) for a, b in items if (a, b) != (k, v)]))
    radius = params.get("radius_km")
    if radius:
        try:
            wider = min(2 * float(radius), MAX_RADIUS_KM)
        except ValueError:
            wider = None
        if wider and wider > float(radius):
            offers.append((f"dans un rayon de {wider:g} km", [(a, b) for a, b in items if a != "radius_km"]
                           + [("radius_km", f"{wider:g}")]))
        offers.append(("sans limite de distance", [(a, b) for a, b in items if a not in ("lat", "lon", "radius_km")]))
    if params.get("bbox"):
        offers.append(("hors de la zone de la carte", [(a, b) for a, b in items if a != "bbox"]))
    out = []
    for label, wider_items in offers[:MAX_WIDEN]:
        try:
            wider_query = parse_search(**_search_args(wider_items), per_page=1)
        except QueryError:
            continue
        total = (await app_state(request).search.search(wider_query))["total"]
        if total:
            out.append({"label": label, "params": wider_items, "total": total})
    return out


def _search_args(items: list[tuple[str, str]]) -> dict:
    filters: dict[str, list[str]] = {}
    args: dict = {}
    for k, v in items:
        if k in FACET_TITLES:
            filters.setdefault(k, []).append(v)
        elif k in ("q", "lat", "lon", "radius_km", "bbox", "sort"):
            args[k] = v
    return {**args, "filters": filters}


def _pages(page: int, last: int) -> list[int | None]:
    """Page numbers to show: first, last and two around the current one; None = gap."""
    keep = sorted({1, last, *range(max(1, page - 2), min(last, page + 2) + 1)})
    out: list[int | None] = []
    for n in keep:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


@get("/", media_type=MediaType.HTML, include_in_schema=False)
async def home(request: Request) -> Template:
    params = request.query_params
    filters = {f: params.getall(f, []) for f in FACET_TITLES}
    error, result, query, posts = None, None, None, None
    try:
        query = query_from(request, per_page=PER_PAGE_HTML)
        result = await app_state(request).search.search(query)
        highlighted(result["hits"], query)
        posts = await matching_posts(request, query)
    except QueryError as exc:
        error = str(exc)
    labels = labels_of(result or {})
    labels["source"] = {**labels.get("source", {}),  # partners by name in the filters and chips
                        **{slug: p.get("name") or slug for slug, p in app_state(request).partners.items()}}
    items = [(k, v) for k, v in params.multi_items() if v and k in SEARCH_PARAMS and k not in ("page", "per_page")]
    chips = [{"facet": k, "title": FACET_TITLES.get(k, k), "label": labels.get(k, {}).get(v, v),
              "params": [(a, b) for a, b in items if (a, b) != (k, v)]}
             for k, v in items if k in FACET_TITLES]
    if params.get("bbox"):
        chips.append({"facet": "bbox", "title": "Zone", "label": "zone de la carte",
                      "params": [(a, b) for a, b in items if a != "bbox"]})
    if params.get("lat") and params.get("lon"):
        chips.append({"facet": "geo", "title": "Autour de", "label": f"{params.get('radius_km') or '∞'} km",
                      "params": [(a, b) for a, b in items if a not in ("lat", "lon", "radius_km")]})
    wider = await widen(request, items, labels) if result is not None and not result["total"] else []
    last = 1
    if result and query:
        last = max(1, min(-(-result["total"] // query.per_page), 10_000 // query.per_page))
    state = app_state(request)
    closed = await closed_among(state.engine, [h["id"] for h in result["hits"]]) if result else set()
    return Template("search.html", context=dict(
        q=params.get("q") or "", filters=filters, result=result, query=query, error=error, posts=posts,
        partners=state.partners, closed=closed, open_facets=OPEN_FACETS,
        n_active=sum(len(v) for v in filters.values()) + (1 if params.get("bbox") else 0),
        facet_titles=FACET_TITLES, labels=labels, base_params=items, chips=chips,
        map_params=[(k, v) for k, v in items if k not in ("bbox", "sort")],
        pages=_pages(query.page, last) if query else [], last_page=last,
        sort=params.get("sort") or "", geo={k: params.get(k) or "" for k in GEO_PARAMS}, wider=wider,
        did_you_mean=[(k, v) for k, v in items if k != "q"] + [("q", result["did_you_mean"])]
        if result and result.get("did_you_mean") else None,
    ))


STAT_CHARTS = (("theme", "Par thématique"), ("region", "Par région"), ("departement", "Par département (20 premiers)"),
               ("source", "Par source"), ("stage", "Par étape"), ("engineering", "Par type d'ingénierie"),
               ("holder_type", "Par type de porteur"))


@get("/statistiques", media_type=MediaType.HTML, include_in_schema=False)
async def stats_page(request: Request) -> Template:
    data = await stats_data(request)
    charts = []
    for facet, title in STAT_CHARTS:
        rows = data[facet][:20]
        top = max((r["count"] for r in rows), default=1) or 1
        charts.append({"facet": facet, "title": title, "rows": [{**r, "pct": round(100 * r["count"] / top, 1)}
                                                               for r in rows]})
    months = list(data["first_seen_by_month"].items())
    top = max((n for _, n in months), default=1) or 1
    timeline = [{"month": m, "count": n, "pct": round(100 * n / top, 1)} for m, n in months]
    return Template("stats.html", context=dict(total=data["total"], charts=charts, timeline=timeline,
                                               partners=app_state(request).partners))


routes = [home, stats_page]
