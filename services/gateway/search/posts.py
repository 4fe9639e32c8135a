"""Matchmaking posts among the search page's results: the open posts that answer the same words,
themes and territory (a post has no stage, engineering, holder type nor source: a search filtering
on those shows none). Marked as posts, at most :data:`POSTS_SHOWN`, with a link to all of them on
``/annonces``. Read through the matchmaking area's own store (the gateway's table)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request

from services.gateway.matchmaking.domain import KINDS
from services.gateway.matchmaking.matching import parse_post_query
from services.gateway.matchmaking.store import search
from services.gateway.search.rules import QueryError, SearchQuery

POSTS_SHOWN = 3
SHARED = frozenset({"theme", "region", "departement", "commune"})


async def matching_posts(request: Request, query: SearchQuery) -> dict[str, Any] | None:
    """{total, hits, more_url} of the posts matching ``query`` on its first page; None when the
    search filters on something posts do not have, or is on another page."""
    if query.page != 1 or set(query.filters) - SHARED:
        return None
    geo = query.geo
    bbox = query.bbox
    try:
        post_query = parse_post_query(
            q=query.q, filters={k: list(v) for k, v in query.filters.items()},
            lat=geo.lat if geo else None, lon=geo.lon if geo else None, radius_km=geo.radius_km if geo else None,
            bbox=f"{bbox.min_lon},{bbox.min_lat},{bbox.max_lon},{bbox.max_lat}" if bbox else None,
            per_page=POSTS_SHOWN)
    except QueryError:
        return None
    async with request.app.state.engine.connect() as conn:
        found = await search(conn, post_query)
    if not found["total"]:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items()
              if v and k in ("q", "lat", "lon", "radius_km", "bbox", *SHARED)]
    for hit in found["hits"]:
        hit["kind_label"] = KINDS.get(hit.get("kind"), "Annonce")
    return {"total": found["total"], "hits": found["hits"], "more_url": f"/annonces?{urlencode(params)}"}
