"""Gateway (Litestar): search API, project pages, partner push, health; the French web pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import structlog
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
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.runtime.settings import Settings, settings
from libs.contracts.taxonomy import FACETS, taxonomy
from services.gateway.adapters.keys import ApiKeys
from services.gateway.adapters.search import make_search
from services.gateway.controllers import EXTRA_ROUTES
from services.gateway.domain import QueryError, SearchQuery, parse_search

HERE = Path(__file__).parent
log = structlog.get_logger()
PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
MAX_BATCH = 500
API_CACHE = CacheControlHeader(max_age=30, public=True)


# --------------------------------------------------------------------------- wiring


def _state(request: Request | ASGIConnection) -> State:
    return request.app.state


def _query(q, theme, stage, engineering, holder_type, source, region, departement, commune,
           lat, lon, radius_km, bbox, sort, page, per_page) -> SearchQuery:
    filters = {k: v for k, v in dict(theme=theme, stage=stage, engineering=engineering, holder_type=holder_type,
                                     source=source, region=region, departement=departement,
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
) -> dict[str, Any]:
    try:
        query = _query(q, theme, stage, engineering, holder_type, source, region, departement, commune,
                       lat, lon, radius_km, bbox, sort, page, per_page)
    except QueryError as exc:
        raise ValidationException(str(exc)) from None
    result = await _state(request).search.search(query)
    return {"total": result["total"], "page": query.page, "per_page": query.per_page, "hits": result["hits"],
            "facets": result["facets"], "labels": result.get("labels", {})}


@get("/api/v1/projects/{project_id:str}", cache_control=API_CACHE, summary="One project with all its sources")
async def get_project(request: Request, project_id: str) -> dict[str, Any]:
    if not PROJECT_ID.match(project_id):
        raise NotFoundException("no such project")
    doc = await _state(request).search.get(project_id)
    if doc is None:
        raise NotFoundException("no such project")
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
                "source": "Source", "region": "Région", "departement": "Département", "commune": "Commune"}


def _labels(result: dict[str, Any]) -> dict[str, dict[str, str]]:
    tax = taxonomy()
    labels = {f: {t.slug: t.label for t in tax.terms(f)} for f in FACETS}
    for facet, values in result.get("labels", {}).items():
        labels[facet] = values
    return labels


@get("/", media_type=MediaType.HTML, include_in_schema=False)
async def home(request: Request) -> Template:
    params = request.query_params
    filters = {f: params.getall(f, []) for f in FACET_TITLES}
    error, result, query = None, None, None
    try:
        query = parse_search(q=params.get("q"), filters={k: v for k, v in filters.items() if v},
                             page=params.get("page") or 1, per_page=20, sort=params.get("sort") or None)
        result = await _state(request).search.search(query)
    except QueryError as exc:
        error = str(exc)
    return Template("search.html", context=dict(
        q=params.get("q") or "", filters=filters, result=result, query=query, error=error,
        facet_titles=FACET_TITLES, labels=_labels(result or {}), base_params=list(params.multi_items()),
    ))


@get("/projets/{project_id:str}", media_type=MediaType.HTML, include_in_schema=False)
async def project_page(request: Request, project_id: str) -> Template:
    doc = await _state(request).search.get(project_id) if PROJECT_ID.match(project_id) else None
    if doc is None:
        raise NotFoundException("Projet introuvable")
    return Template("project.html", context=dict(doc=doc, p=doc.get("project", {}), labels=_labels({})))


# --------------------------------------------------------------------------- app


def create_app(cfg: Settings | None = None) -> Litestar:
    cfg = cfg or settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = create_async_engine(cfg.database_url, pool_size=10, pool_pre_ping=True)
        broker = KafkaBroker(cfg.kafka_bootstrap, client_id="carrefour-gateway", acks="all")
        await broker.connect()
        app.state.engine, app.state.broker = engine, broker
        app.state.search = make_search(cfg.search_backend, engine, cfg.meili_url, cfg.meili_key)
        app.state.api_keys = ApiKeys(engine)
        log.info("gateway started", host=cfg.gateway_host, port=cfg.gateway_port)
        try:
            yield
        finally:
            await broker.stop()
            await engine.dispose()

    async def log_crash(exc: Exception, scope) -> None:
        if not isinstance(exc, HTTPException):
            log.error("request failed", path=scope.get("path"), method=scope.get("method"),
                      error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    return Litestar(
        after_exception=[log_crash],
        route_handlers=[search, get_project, get_taxonomy, health, ready, home, project_page, *EXTRA_ROUTES,
                        create_static_files_router(path="/static", directories=[HERE / "static"])],
        lifespan=[lifespan],
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(title="Carrefour API", version="1.0.0", path="/schema"),
        cors_config=CORSConfig(allow_origins=cfg.cors_origins) if cfg.cors_origins else None,
        request_max_body_size=2 * 1024 * 1024,
        exception_handlers={QueryError: lambda _, exc: Response({"status_code": 400, "detail": str(exc)}, status_code=400)},
    )
