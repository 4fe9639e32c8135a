"""The search port: what the gateway asks of a search engine (``SearchBackend``), and the factory that
picks the engine from the settings. PostgreSQL (``postgres.py``) is the embedded default; Meilisearch
(``meili.py``) is the production engine; one conformance suite (tests/integration/test_search_conformance.py)
runs the same assertions against both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

from services.gateway.search.rules import SearchQuery

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from services.gateway.settings import GatewaySettings

SIMILAR_RADIUS_KM = 60.0
"""Projects "nearby" on a project page: same themes, within this distance."""
MAX_MAP_POINTS = 10_000
"""Meilisearch only: points fetched to cluster in Python (its result window)."""


class SearchBackend(Protocol):
    async def search(self, query: SearchQuery) -> dict[str, Any]: ...
    async def get(self, project_id: str) -> dict[str, Any] | None: ...
    async def ping(self) -> None: ...
    async def suggest(self, query: SearchQuery, limit: int) -> list[dict[str, Any]]: ...
    async def memo(self, key: Hashable, compute: Callable[[], Awaitable[bytes]]) -> bytes: ...
    async def similar(self, doc: dict[str, Any], limit: int) -> list[dict[str, Any]]: ...
    async def elsewhere(self, doc: dict[str, Any], limit: int) -> list[dict[str, Any]]: ...
    async def clusters(self, query: SearchQuery, cell_deg: float) -> list[dict[str, Any]]: ...
    async def stats(self) -> dict[str, Any]: ...
    def export(self, query: SearchQuery, limit: int) -> AsyncIterator[dict[str, Any]]: ...


def make_search(cfg: GatewaySettings, engine: AsyncEngine) -> SearchBackend:
    """The search backend the settings ask for."""
    if cfg.search_backend == "postgres":
        from services.gateway.search.postgres import PostgresSearch

        return PostgresSearch(engine, cfg.search_cache_mb, cfg.search_cache_max_stale_ms,
                              cfg.search_candidates_settle_ms)
    from services.gateway.search.meili import MeiliSearch

    return MeiliSearch(cfg.meili_url, cfg.meili_key)
