"""Which search engine the gateway talks to: the settings' ``SEARCH_BACKEND`` (PostgreSQL, the embedded
default, or Meilisearch in production), both behind ``port.SearchBackend``."""

from __future__ import annotations

import structlog
from litestar import Response
from meilisearch.errors import MeilisearchError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.gateway.search.meili import MeiliSearch
from services.gateway.search.port import SearchBackend
from services.gateway.search.postgres import PostgresSearch
from services.gateway.settings import GatewaySettings

log = structlog.get_logger()


def make_search(cfg: GatewaySettings, engine: AsyncEngine) -> SearchBackend:
    """The search backend the settings ask for."""
    if cfg.search_backend == "postgres":
        return PostgresSearch(engine, cfg.search_cache_mb, cfg.search_cache_max_stale_ms,
                              cfg.search_candidates_settle_ms)
    return MeiliSearch(cfg.meili_url, cfg.meili_key)


def _unavailable(_request, exc: Exception) -> Response:
    """The search engine is down, slow or refusing: the visitor is told to come back (503 with
    Retry-After), the operator sees the engine's own message in the log — not a bare 500."""
    log.warning("search engine unavailable", error=f"{type(exc).__name__}: {str(exc)[:300]}")
    return Response({"status_code": 503, "detail": "le moteur de recherche est momentanément indisponible"},
                    status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


RETRY_AFTER_S = 5
ENGINE_ERRORS = {MeilisearchError: _unavailable}
"""Exception handlers for the app: every error of the Meilisearch client (communication, timeout, API)."""
