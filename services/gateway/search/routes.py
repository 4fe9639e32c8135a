"""The search API: search, suggestions, map clusters, statistics, export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from litestar import MediaType, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import ValidationException
from litestar.params import Parameter
from litestar.response import Stream

from services.gateway.accounts.http import client_ip
from services.gateway.accounts.throttle import rate_limit
from services.gateway.search.params import (
    SEARCH_PARAMS,
    app_state,
    highlighted,
    query_from,
    query_of,
    reject_unknown,
    stats_data,
)
from services.gateway.search.rules import (
    EXPORT_COLUMNS,
    EXPORT_FORMATS,
    MAX_EXPORT,
    QueryError,
    cluster_cell,
    csv_cell,
    export_row,
    geojson_clusters,
    parse_search,
    parse_zoom,
    suggest_terms,
)

API_CACHE = CacheControlHeader(max_age=30, public=True)
STATS_CACHE = CacheControlHeader(max_age=300, public=True)


Multi = Annotated[list[str] | None, Parameter(description="repeatable: OR within the facet")]


@get("/api/v1/search", cache_control=API_CACHE, summary="Multi-criteria search with facets")
async def search(
    request: Request,
    q: Annotated[str | None, Parameter(max_length=200, description="text, accent- and typo-tolerant")] = None,
    theme: Multi = None,
    stage: Multi = None,
    engineering: Multi = None,
    holder_type: Multi = None,
    source: Multi = None,
    country: Multi = None,
    region: Multi = None,
    departement: Multi = None,
    commune: Multi = None,
    lat: float | None = None,
    lon: float | None = None,
    radius_km: float | None = None,
    bbox: Annotated[str | None, Parameter(description="min_lon,min_lat,max_lon,max_lat")] = None,
    sort: Annotated[str | None, Parameter(description="relevance | newest | nearest")] = None,
    page: int = 1,
    per_page: int = 20,
) -> Response[dict[str, Any]]:
    """The answer (hits highlighted) is cached whole per gateway process while the index does not
    change (``SearchBackend.memo``): a repeated search costs no database work and no encoding."""
    try:
        query = query_of(q, theme, stage, engineering, holder_type, source, country, region, departement, commune,
                       lat, lon, radius_km, bbox, sort, page, per_page)
    except QueryError as exc:
        raise ValidationException(str(exc)) from None
    backend = app_state(request).search

    async def answer() -> bytes:
        result = await backend.search(query)
        return orjson.dumps({"total": result["total"], "page": query.page, "per_page": query.per_page,
                             "hits": highlighted(result["hits"], query), "facets": result["facets"],
                             "labels": result.get("labels", {}), "ignored": result.get("ignored", []),
                             "did_you_mean": result.get("did_you_mean")})

    return Response(await backend.memo(("api", *query.cache_key()), answer), media_type=MediaType.JSON)


@get("/api/v1/suggest", cache_control=API_CACHE, summary="Search-as-you-type suggestions: projects and themes")
async def suggest(
    request: Request,
    q: Annotated[str, Parameter(min_length=1, max_length=200, description="what the visitor typed so far")],
    limit: Annotated[int, Parameter(ge=1, le=20)] = 8,
) -> dict[str, Any]:
    query = parse_search(q=q)
    projects = await app_state(request).search.suggest(query, limit) if len(" ".join(query.tokens)) >= 2 else []
    return {"q": q, "projects": projects, "terms": suggest_terms(q)}


@get("/api/v1/map", cache_control=API_CACHE, summary="GeoJSON clusters of a search for a bbox and zoom")
async def map_clusters(
    request: Request,
    bbox: Annotated[str, Parameter(description="min_lon,min_lat,max_lon,max_lat (required)")],
    zoom: Annotated[int, Parameter(ge=0, le=20, description="map zoom level, 0 to 20")],
) -> Response:
    """Every search parameter applies (q, facets, lat/lon/radius_km); server-side grid clustering
    about 60 pixels wide at that zoom; a cluster of one is the project itself (``id``, ``title``,
    ``url``)."""
    reject_unknown(request, SEARCH_PARAMS)
    query = query_from(request, sort=None, page=1, per_page=20)
    cell = cluster_cell(parse_zoom(zoom), query.bbox)
    backend = app_state(request).search

    async def answer() -> bytes:
        clusters = await backend.clusters(query, cell)
        body = geojson_clusters(clusters)
        body["properties"] = {"zoom": zoom, "cell_deg": cell, "total": sum(c["count"] for c in clusters)}
        return orjson.dumps(body)

    return Response(await backend.memo(("map", cell, zoom, *query.cache_key()), answer),
                    media_type="application/geo+json")


@get("/api/v1/stats", cache_control=STATS_CACHE, summary="Counts by theme, territory, source, stage and month")
async def stats(request: Request) -> dict[str, Any]:
    return await stats_data(request)


async def _started(docs: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """Fetch the first document now, so an error answers with its status instead of a broken stream."""
    try:
        first = await anext(docs)
    except StopAsyncIteration:
        return _none()

    async def chained() -> AsyncIterator[dict[str, Any]]:
        yield first
        async for doc in docs:
            yield doc

    return chained()


async def _none() -> AsyncIterator[dict[str, Any]]:
    for doc in ():
        yield doc


@get("/api/v1/export", summary="Export a search as CSV, JSON or GeoJSON, with licence and attribution per source")
async def export(request: Request, format: Annotated[str, Parameter(description="csv | json | geojson")] = "csv",
                 limit: Annotated[int, Parameter(ge=1, le=MAX_EXPORT)] = MAX_EXPORT) -> Stream:
    reject_unknown(request, SEARCH_PARAMS)
    if format not in EXPORT_FORMATS:
        raise QueryError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    query = query_from(request, page=1, per_page=20)
    state = app_state(request)
    await rate_limit(request, "export", f"ip:{client_ip(request)}", state.settings.export_per_minute, 60)
    partners = state.partners
    base_url = str(request.base_url).rstrip("/")
    docs = await _started(state.search.export(query, limit))  # a failing query fails before the 200
    rows = (export_row(doc, partners, base_url) async for doc in docs)
    notice = ("Données publiées par les partenaires cités dans chaque ligne, sous leur licence respective "
              "(colonnes licences et attribution) ; à citer en cas de réutilisation.")

    async def as_csv():
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        async for row in rows:
            writer.writerow([csv_cell(row[c]) for c in EXPORT_COLUMNS])
            if buf.tell() > 32_768:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode()

    async def as_json():
        head = {"notice": notice, "sources": {s: {"name": p.get("name"), "licence": p.get("licence")}
                                              for s, p in sorted(partners.items())}}
        yield orjson.dumps(head)[:-1] + b',"projects":['
        first = True
        async for row in rows:
            yield (b"" if first else b",") + orjson.dumps(row)
            first = False
        yield b"]}"

    async def as_geojson():
        yield orjson.dumps({"type": "FeatureCollection", "attribution": notice})[:-1] + b',"features":['
        first = True
        async for row in rows:
            if row["lat"] is None or row["lon"] is None:
                continue
            props = {k: v for k, v in row.items() if k not in ("lat", "lon")}
            feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
                       "properties": props}
            yield (b"" if first else b",") + orjson.dumps(feature)
            first = False
        yield b"]}"

    body, media = {"csv": (as_csv, "text/csv; charset=utf-8"), "json": (as_json, "application/json"),
                   "geojson": (as_geojson, "application/geo+json")}[format]
    return Stream(body(), media_type=media, headers={
        "content-disposition": f'attachment; filename="carrefour-projets.{format}"', "cache-control": "no-store"})


routes = [search, suggest, map_clusters, stats, export]
