"""Which search engine the gateway talks to: the settings' ``SEARCH_BACKEND`` (PostgreSQL, the embedded
default, or Meilisearch in production), both behind ``port.SearchBackend``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from services.gateway.search.meili import MeiliSearch
from services.gateway.search.port import SearchBackend
from services.gateway.search.postgres import PostgresSearch
from services.gateway.settings import GatewaySettings


def make_search(cfg: GatewaySettings, engine: AsyncEngine) -> SearchBackend:
    """The search backend the settings ask for."""
    if cfg.search_backend == "postgres":
        return PostgresSearch(engine, cfg.search_cache_mb, cfg.search_cache_max_stale_ms,
                              cfg.search_candidates_settle_ms)
    return MeiliSearch(cfg.meili_url, cfg.meili_key)
