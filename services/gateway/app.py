"""Gateway (Litestar): search API, project pages, partner push, health; the French web pages."""

from __future__ import annotations

import csv
import gc
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import structlog
import yaml
from faststream.kafka import KafkaBroker
from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    ValidationException,
)
from litestar.openapi import OpenAPIConfig
from litestar.params import Parameter
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Stream, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.settings import GatewaySettings, settings
from libs.contracts.taxonomy import FACETS, taxonomy
from services.gateway.adapters.keys import ApiKeys
from services.gateway.adapters.search import make_search
from services.gateway.controllers import EXTRA_LIFESPANS, EXTRA_ROUTES
from services.gateway.domain import (
    EXPORT_COLUMNS,
    EXPORT_FORMATS,
    MAX_EXPORT,
    QueryError,
    SearchQuery,
    cluster_cell,
    csv_cell,
    export_row,
    geojson_clusters,
    highlight_hit,
    parse_search,
    parse_zoom,
    suggest_terms,
)
from services.gateway.middleware import http_hygiene
from services.gateway.moderation import routes as moderation

HERE = Path(__file__).parent
log = structlog.get_logger()
PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
MAX_BATCH = 500
API_CACHE = CacheControlHeader(max_age=30, public=True)
STATS_CACHE = CacheControlHeader(max_age=300, public=True)
DEFAULT_PARTNERS_FILE = HERE.parent / "crawler" / "partners.demo.yaml"
SIMILAR = 6


# --------------------------------------------------------------------------- wiring


def _state(request: Request | ASGIConnection) -> State:
    return request.app.state


def _query(q, theme, stage, engineering, holder_type, source, country, region, departement, commune,
           lat, lon, radius_km, bbox, sort, page, per_page) -> SearchQuery:
    filters = {k: v for k, v in dict(theme=theme, stage=stage, engineering=engineering, holder_type=holder_type,
                                     source=source, country=country, region=region, departement=departement,
                                     commune=commune).items() if v}
    return parse_search(q=q, filters=filters, lat=lat, lon=lon, radius_km=radius_km, bbox=bbox, sort=sort,
                        page=page, per_page=per_page)


# --------------------------------------------------------------------------- API


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
        query = _query(q, theme, stage, engineering, holder_type, source, country, region, departement, commune,
                       lat, lon, radius_km, bbox, sort, page, per_page)
    except QueryError as exc:
        raise ValidationException(str(exc)) from None
    backend = _state(request).search

    async def answer() -> bytes:
        result = await backend.search(query)
        return orjson.dumps({"total": result["total"], "page": query.page, "per_page": query.per_page,
                             "hits": _highlighted(result["hits"], query), "facets": result["facets"],
                             "labels": result.get("labels", {})})

    return Response(await backend.memo(("api", *query.cache_key()), answer), media_type=MediaType.JSON)


def _highlighted(hits: list[dict[str, Any]], query: SearchQuery) -> list[dict[str, Any]]:
    """Each hit gets ``highlight``: escaped HTML of the title and of a snippet, query words in <mark>."""
    tokens = tuple(query.tokens)
    for hit in hits:
        hit["highlight"] = highlight_hit(hit.get("title") or "", hit.get("summary") or "",
                                         hit.get("description") or "", tokens)
    return hits


def _query_from(request: Request, **overrides) -> SearchQuery:
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


def _reject_unknown(request: Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0]!r}")


@get("/api/v1/suggest", cache_control=API_CACHE, summary="Search-as-you-type suggestions: projects and themes")
async def suggest(
    request: Request,
    q: Annotated[str, Parameter(min_length=1, max_length=200, description="what the visitor typed so far")],
    limit: Annotated[int, Parameter(ge=1, le=20)] = 8,
) -> dict[str, Any]:
    query = parse_search(q=q)
    projects = await _state(request).search.suggest(query, limit) if len(" ".join(query.tokens)) >= 2 else []
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
    _reject_unknown(request, SEARCH_PARAMS)
    query = _query_from(request, sort=None, page=1, per_page=20)
    cell = cluster_cell(parse_zoom(zoom), query.bbox)
    backend = _state(request).search

    async def answer() -> bytes:
        clusters = await backend.clusters(query, cell)
        body = geojson_clusters(clusters)
        body["properties"] = {"zoom": zoom, "cell_deg": cell, "total": sum(c["count"] for c in clusters)}
        return orjson.dumps(body)

    return Response(await backend.memo(("map", cell, zoom, *query.cache_key()), answer),
                    media_type="application/geo+json")


@get("/api/v1/stats", cache_control=STATS_CACHE, summary="Counts by theme, territory, source, stage and month")
async def stats(request: Request) -> dict[str, Any]:
    return await _stats(request)


async def _stats(request: Request) -> dict[str, Any]:
    raw = await _state(request).search.stats()
    labels = _labels(raw)
    out: dict[str, Any] = {"total": raw["total"], "first_seen_by_month": raw["first_seen_by_month"]}
    for facet in ("theme", "region", "departement", "source", "stage", "engineering", "holder_type"):
        out[facet] = [{"value": v, "label": labels.get(facet, {}).get(v, v), "count": n}
                      for v, n in raw["facets"].get(facet, {}).items()]
    return out


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
    _reject_unknown(request, SEARCH_PARAMS)
    if format not in EXPORT_FORMATS:
        raise QueryError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    query = _query_from(request, page=1, per_page=20)
    state = _state(request)
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


@get("/api/v1/projects/{project_id:str}", cache_control=API_CACHE,
     summary="One project with all its sources, and similar projects nearby (same themes, closest first)")
async def get_project(request: Request, project_id: str) -> dict[str, Any]:
    if not PROJECT_ID.match(project_id):
        raise NotFoundException("no such project")
    doc = await _state(request).search.get(project_id)
    if doc is None:
        raise NotFoundException("no such project")
    doc["similar"] = await _state(request).search.similar(doc, SIMILAR)
    return doc


@get("/api/v1/taxonomy", cache_control=CacheControlHeader(max_age=3600, public=True))
async def get_taxonomy() -> dict[str, Any]:
    return taxonomy().model_dump()


@get("/health", include_in_schema=True, summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", summary="Readiness: broker and database answer")
async def ready(request: Request) -> Response:
    state = _state(request)
    checks: dict[str, str] = {}
    try:
        checks["broker"] = "ok" if await state.broker.ping(timeout=2.0) else "unreachable"
    except Exception as exc:  # noqa: BLE001 — readiness reports, never raises
        checks["broker"] = f"error: {type(exc).__name__}"
    try:
        await state.search.ping()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return Response({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


# --------------------------------------------------------------------------- web pages


FACET_TITLES = {"theme": "Thématique", "stage": "Étape", "engineering": "Ingénierie", "holder_type": "Porteur",
                "source": "Source", "country": "Pays", "region": "Région", "departement": "Département", "commune": "Commune"}


def _labels(result: dict[str, Any]) -> dict[str, dict[str, str]]:
    tax = taxonomy()
    labels = {f: {t.slug: t.label for t in tax.terms(f)} for f in FACETS}
    for facet, values in result.get("labels", {}).items():
        labels[facet] = values
    return labels


PER_PAGE_HTML = 20
GEO_PARAMS = ("lat", "lon", "radius_km", "bbox")


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
    error, result, query = None, None, None
    try:
        query = _query_from(request, per_page=PER_PAGE_HTML)
        result = await _state(request).search.search(query)
        _highlighted(result["hits"], query)
    except QueryError as exc:
        error = str(exc)
    labels = _labels(result or {})
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
    last = 1
    if result and query:
        last = max(1, min(-(-result["total"] // query.per_page), 10_000 // query.per_page))
    return Template("search.html", context=dict(
        q=params.get("q") or "", filters=filters, result=result, query=query, error=error,
        facet_titles=FACET_TITLES, labels=labels, base_params=items, chips=chips,
        map_params=[(k, v) for k, v in items if k not in ("bbox", "sort")],
        pages=_pages(query.page, last) if query else [], last_page=last,
        sort=params.get("sort") or "", geo={k: params.get(k) or "" for k in GEO_PARAMS},
    ))


@get("/projets/{project_id:str}", media_type=MediaType.HTML, include_in_schema=False)
async def project_page(request: Request, project_id: str) -> Template:
    state = _state(request)
    doc = await state.search.get(project_id) if PROJECT_ID.match(project_id) else None
    if doc is None:
        raise NotFoundException("Projet introuvable")
    similar = await state.search.similar(doc, SIMILAR)
    from services.gateway.controllers.claims import project_holder  # "Projet géré par son porteur" block
    from services.gateway.controllers.matchmaking import project_posts  # the project's open posts

    return Template("project.html", context=dict(doc=doc, p=doc.get("project", {}), labels=_labels({}),
                                                 similar=similar, partners=state.partners,
                                                 claim=await project_holder(request, project_id),
                                                 posts=await project_posts(request.app, project_id)))


STAT_CHARTS = (("theme", "Par thématique"), ("region", "Par région"), ("departement", "Par département (20 premiers)"),
               ("source", "Par source"), ("stage", "Par étape"), ("engineering", "Par type d'ingénierie"),
               ("holder_type", "Par type de porteur"))


@get("/statistiques", media_type=MediaType.HTML, include_in_schema=False)
async def stats_page(request: Request) -> Template:
    data = await _stats(request)
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
                                               partners=_state(request).partners))


def _load_partners(path: str | None) -> dict[str, dict[str, Any]]:
    """Partner names and licences (for attribution), from the crawler's partner file."""
    file = Path(path) if path else DEFAULT_PARTNERS_FILE
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("partners file unreadable: attribution without names or licences", path=str(file), error=str(exc))
        return {}
    return {p["slug"]: {"name": p.get("name") or p["slug"], "licence": p.get("licence"), "url": p.get("base_url")}
            for p in data.get("partners") or [] if isinstance(p, dict) and p.get("slug")}


# --------------------------------------------------------------------------- app


# request counts and latencies by route (grouped by path template), plus the shared pipeline
# metrics of libs/runtime/metrics.py, on GET /metrics
PROMETHEUS = PrometheusConfig(app_name="carrefour-gateway", prefix="carrefour_http", group_path=True,
                              exclude=["/metrics", "/static"], exclude_unhandled_paths=True)


class GatewayMetrics(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def _tune_gc() -> None:
    """CPython's full collections walked the search caches' long-lived objects (candidate ids,
    documents) and stopped the event loop for ~100 ms under load: at 32 clients p99 went from
    159 ms to 55 ms once startup's objects were frozen and the oldest generation collected
    rarely (gc off: 51 ms). Young cycles are still collected as before."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 1_000)


def create_app(cfg: GatewaySettings | None = None) -> Litestar:
    cfg = cfg or settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # JIT compilation costs more than it saves on these short queries; no pre-ping (a round trip per
        # request): a connection found dead is dropped by the pool and the next request gets a fresh one
        engine = create_async_engine(cfg.database_url, pool_size=10, max_overflow=10, pool_recycle=600,
                                     connect_args={"server_settings": {"jit": "off"}})
        broker = KafkaBroker(cfg.kafka_bootstrap, client_id="carrefour-gateway", acks="all")
        await broker.connect()
        app.state.engine, app.state.broker = engine, broker
        app.state.search = make_search(cfg, engine)
        app.state.api_keys = ApiKeys(engine)
        app.state.settings = cfg
        app.state.mailer = Mailer(engine)  # delivered by the accounts controller's dispatcher
        app.state.partners = _load_partners(cfg.carrefour_partners_file)
        log.info("gateway started", host=cfg.gateway_host, port=cfg.gateway_port)
        _tune_gc()
        try:
            yield
        finally:
            await broker.stop()
            await engine.dispose()

    async def log_crash(exc: Exception, scope) -> None:
        if isinstance(exc, QueryError):  # the client's mistake, answered 400: no traceback, no alarm
            log.info("request refused", path=scope.get("path"), method=scope.get("method"), reason=str(exc)[:500])
        elif not isinstance(exc, HTTPException):
            log.error("request failed", path=scope.get("path"), method=scope.get("method"),
                      error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    from services.gateway.accounts.identity import user_middleware
    from services.gateway.request_limits import refuse_deep_json
    from services.gateway.accounts.web import csrf_config, csrf_middleware, template_engine_callback
    from services.gateway.adapters.mailer import Mailer

    return Litestar(
        after_exception=[log_crash],
        route_handlers=[search, suggest, map_clusters, stats, export, get_project, get_taxonomy, health, ready,
                        home, project_page, stats_page, *EXTRA_ROUTES, *moderation.routes, GatewayMetrics,
                        create_static_files_router(path="/static", directories=[HERE / "static"])],
        lifespan=[lifespan, *EXTRA_LIFESPANS, moderation.lifespan],
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine,
                                       engine_callback=template_engine_callback),
        openapi_config=OpenAPIConfig(title="Carrefour API", version="1.0.0", path="/schema"),
        cors_config=CORSConfig(allow_origins=cfg.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
                               allow_headers=["content-type", "x-api-key", "authorization", "if-none-match"],
                               expose_headers=["etag", "content-disposition"], max_age=600)
        if cfg.cors_origins else None,
        middleware=[http_hygiene, PROMETHEUS.middleware, csrf_middleware(csrf_config(cfg)), user_middleware],
        request_max_body_size=2 * 1024 * 1024,
        before_request=refuse_deep_json,
        exception_handlers={QueryError: lambda _, exc: Response({"status_code": 400, "detail": str(exc)}, status_code=400)},
    )
