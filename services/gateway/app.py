"""Gateway (Litestar): the composition root. Each area of ``services/gateway/<area>/`` brings its routes
(and, for background work, a lifespan); this module wires them with the shared engine, broker, search
backend, mailer and web plumbing (CSRF, sessions, limits, metrics)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from faststream.kafka import KafkaBroker
from litestar import Litestar, Response
from litestar.config.cors import CORSConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import create_async_engine

from libs.runtime.kafka import broker_options
from services.gateway.accounts import operator_routes as accounts_operator
from services.gateway.accounts import routes as accounts
from services.gateway.accounts.identity import user_middleware
from services.gateway.accounts.web import (
    csrf_config,
    csrf_middleware,
    template_engine_callback,
)
from services.gateway.alerts import feed as alerts_feed
from services.gateway.alerts import routes as alerts
from services.gateway.alerts import worker as alerts_worker
from services.gateway.claims import routes as claims
from services.gateway.contact import pages as contact_pages
from services.gateway.contact import routes as contact
from services.gateway.embed import routes as embed
from services.gateway.matchmaking import pages as matchmaking_pages
from services.gateway.matchmaking import routes as matchmaking
from services.gateway.moderation import admin as moderation_admin
from services.gateway.moderation import routes as moderation
from services.gateway.partners import ingest, previews
from services.gateway.partners import pages as partner_pages
from services.gateway.partners import routes as partners
from services.gateway.partners.keys import ApiKeys
from services.gateway.projects import routes as projects
from services.gateway.reports import routes as reports
from services.gateway.search import pages as search_pages
from services.gateway.search import routes as search
from services.gateway.search.factory import ENGINE_ERRORS, make_search
from services.gateway.search.rules import QueryError
from services.gateway.settings import GatewaySettings, settings
from services.gateway.web import api_docs, formats, health, specs
from services.gateway.web.client_address import client_address_middleware
from services.gateway.web.mailer import Mailer
from services.gateway.web.middleware import hygiene_with
from services.gateway.web.request_limits import refuse_deep_json

HERE = Path(__file__).parent
log = structlog.get_logger()

AREAS = (search, search_pages, projects, partners, ingest, previews, accounts, accounts_operator, claims, contact,
         contact_pages, matchmaking, matchmaking_pages, moderation, moderation_admin, alerts, alerts_feed,
         alerts_worker, partner_pages, reports, embed, health, specs)
"""Route modules, one per area (or page group); each has ``routes`` and may have ``lifespan(app)``, an
async context manager entered after the gateway's own (the engine and broker exist)."""


def _tune_gc() -> None:
    """CPython's full collections walked the search caches' long-lived objects (candidate ids,
    documents) and stopped the event loop for ~100 ms under load: at 32 clients p99 went from
    159 ms to 55 ms once startup's objects were frozen and the oldest generation collected
    rarely (gc off: 51 ms). Young cycles are still collected as before."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 1_000)


def _map_tiles(cfg: GatewaySettings) -> dict | None:
    """The map background for the pages (``data-tiles`` on each map); None: the offline outlines."""
    if not cfg.map_tiles_url:
        return None
    return {"url": cfg.map_tiles_url, "attribution": cfg.map_tiles_attribution, "max_zoom": cfg.map_tiles_max_zoom}


def create_app(cfg: GatewaySettings | None = None) -> Litestar:
    cfg = cfg or settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # JIT compilation costs more than it saves on these short queries; no pre-ping (a round trip per
        # request): a connection found dead is dropped by the pool and the next request gets a fresh one
        engine = create_async_engine(cfg.database_url, pool_size=10, max_overflow=10, pool_recycle=600,
                                     connect_args={"server_settings": {"jit": "off"}})
        broker = KafkaBroker(cfg.kafka_bootstrap, client_id="carrefour-gateway", acks="all", **broker_options(cfg))
        await broker.connect()
        app.state.engine, app.state.broker = engine, broker
        app.state.search = make_search(cfg, engine)
        app.state.api_keys = ApiKeys(engine)
        app.state.settings = cfg
        app.state.mailer = Mailer(engine)  # delivered by the accounts area's dispatcher
        app.state.partners = {}  # filled by the partners area (partners/registry.py)
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

    return Litestar(
        after_exception=[log_crash],
        logging_config=None,  # one log format: libs/runtime/logs.py configures every logger
        route_handlers=[*(route for area in AREAS for route in area.routes),
                        create_static_files_router(path="/static", directories=[HERE / "static"])],
        lifespan=[lifespan, *(area.lifespan for area in AREAS if hasattr(area, "lifespan"))],
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine,
                                       engine_callback=lambda e: (template_engine_callback(e),
                                                                  formats.register(e, map_tiles=_map_tiles(cfg)))),
        openapi_config=OpenAPIConfig(title="Carrefour API", version="1.0.0", path="/schema",
                                     render_plugins=api_docs.plugins()),  # works offline
        cors_config=CORSConfig(allow_origins=cfg.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
                               allow_headers=["content-type", "x-api-key", "authorization", "if-none-match"],
                               expose_headers=["etag", "content-disposition"], max_age=600)
        if cfg.cors_origins else None,
        middleware=[client_address_middleware(cfg.forwarded_allow_ips), hygiene_with(cfg.map_tiles_url),
                    health.PROMETHEUS.middleware, csrf_middleware(csrf_config(cfg)), user_middleware],
        request_max_body_size=2 * 1024 * 1024,
        before_request=refuse_deep_json,
        exception_handlers={QueryError: lambda _, exc: Response({"status_code": 400, "detail": str(exc)},
                                                                status_code=400), **ENGINE_ERRORS},
    )
