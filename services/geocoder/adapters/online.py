"""Optional online geocoder: an addok-compatible HTTP API (the French BAN, api-adresse.data.gouv.fr,
or a self-hosted addok), with a persistent PostgreSQL cache (table ``geocoder_cache``).

Used only when ``GEOCODER_ONLINE_URL`` is set; the offline gazetteer always answers first and
stays the answer whenever the online service fails, times out or disagrees. A query is sent
once: found and not-found answers are both cached, shared by every replica, kept across restarts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.geocoder.domain import OnlineHit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnlineConfig:
    url: str
    timeout_s: float = 5.0
    min_score: float = 0.5


def cache_key(provider: str, params: dict[str, str]) -> str:
    blob = json.dumps({"p": provider.rstrip("/"), **params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class PgCache:
    """Persistent cache of online answers (``None`` = nothing found, also cached)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, key: str) -> tuple[bool, dict | None]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(text("SELECT response FROM geocoder_cache WHERE key = :k"), {"k": key})).first()
        return (False, None) if row is None else (True, row[0])

    async def put(self, key: str, provider: str, params: dict[str, str], response: dict | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO geocoder_cache (key, provider, query, response) "
                    "VALUES (:k, :p, CAST(:q AS jsonb), CAST(:r AS jsonb)) ON CONFLICT (key) DO NOTHING"
                ),
                {"k": key, "p": provider, "q": json.dumps(params, ensure_ascii=False),
                 "r": None if response is None else json.dumps(response, ensure_ascii=False)},
            )


class AddokGeocoder:
    """``search()`` → the best feature as an :class:`OnlineHit`, or None (not found, or failure)."""

    def __init__(self, config: OnlineConfig, cache: PgCache, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.cache = cache
        self._client = client or httpx.AsyncClient(
            timeout=config.timeout_s, headers={"User-Agent": "Carrefour-geocoder/1.0"}
        )
        self.requests = 0  # sent to the service (not answered from the cache)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def search(self, q: str, postcode: str | None = None, citycode: str | None = None) -> OnlineHit | None:
        q = " ".join(q.split())[:200]
        if len(q) < 3:
            return None
        params = {"q": q, "limit": "1"}
        if postcode:
            params["postcode"] = postcode
        if citycode:
            params["citycode"] = citycode
        key = cache_key(self.config.url, params)
        found, cached = await self.cache.get(key)
        if found:
            return _hit(cached)
        try:
            self.requests += 1
            resp = await self._client.get(self.config.url.rstrip("/") + "/search/", params=params)
            resp.raise_for_status()
            features = resp.json().get("features") or []
        except (httpx.HTTPError, ValueError) as exc:  # not cached: a later record retries
            log.warning("online geocoder failed, offline answer kept: %s", exc)
            return None
        best = features[0] if features else None
        await self.cache.put(key, self.config.url, params, best)
        return _hit(best)


def _hit(feature: dict | None) -> OnlineHit | None:
    if not feature:
        return None
    try:
        props = feature["properties"]
        lon, lat = feature["geometry"]["coordinates"][:2]
        return OnlineHit(
            lat=float(lat), lon=float(lon), score=float(props.get("score", 0.0)), kind=str(props.get("type", "")),
            citycode=props.get("citycode"), postcode=props.get("postcode"), label=str(props.get("label", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None
