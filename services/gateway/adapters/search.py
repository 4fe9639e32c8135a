"""Search backends, read side. One interface; PostgreSQL is the embedded default.

The PostgreSQL reader queries ``search_documents`` written by the indexer:
- text: French full-text on accent-folded text (title weighted above body), the last word
  matched as a prefix (search-as-you-type), OR trigram word similarity on the title (typos);
- filters: OR within a facet, AND across facets; facet counts are disjunctive (each facet is
  counted with every filter but its own), so a visitor sees what ticking another value adds;
- geo: radius (bounding-box prefilter, then haversine) and bbox.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.search import FACET_FIELDS
from services.gateway.domain import SearchQuery

MULTI = {"theme", "engineering", "source"}
LABEL_COLUMNS = {"region": "region_name", "departement": "departement_name", "commune": "commune_name"}
HAVERSINE = ("(2 * 6371 * asin(sqrt(power(sin(radians(lat - :glat) / 2), 2) + cos(radians(:glat)) * "
             "cos(radians(lat)) * power(sin(radians(lon - :glon) / 2), 2))))")


class SearchBackend(Protocol):
    async def search(self, query: SearchQuery) -> dict[str, Any]: ...
    async def get(self, project_id: str) -> dict[str, Any] | None: ...
    async def ping(self) -> None: ...


def _load(value):
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


class PostgresSearch:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def get(self, project_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                text("SELECT doc FROM search_documents WHERE id=:id AND NOT deleted"), {"id": project_id}
            )).first()
        return _load(row.doc) if row else None

    def _base(self, query: SearchQuery, params: dict) -> list[str]:
        where = ["NOT deleted"]
        tokens = query.tokens
        if tokens:
            # every word must match: in the text (the last one as a prefix), or, for typos, by trigram
            # similarity to a word of the title
            terms = [t + (":*" if i == len(tokens) - 1 else "") for i, t in enumerate(tokens)]
            params["tsq"] = " & ".join(terms)
            params["qf"] = " ".join(tokens)
            for i, (term, token) in enumerate(zip(terms, tokens)):
                params[f"t{i}"], params[f"w{i}"] = term, token
                where.append(f"(tsv @@ to_tsquery('french', :t{i}) OR :w{i} <% title_folded)")
        if query.geo is not None and query.geo.radius_km is not None:
            la1, la2, lo1, lo2 = query.geo.bounds()
            params.update(gla1=la1, gla2=la2, glo1=lo1, glo2=lo2, gr=query.geo.radius_km)
            where.append(f"lat BETWEEN :gla1 AND :gla2 AND lon BETWEEN :glo1 AND :glo2 AND {HAVERSINE} <= :gr")
        if query.geo is not None:
            params.update(glat=query.geo.lat, glon=query.geo.lon)
        if query.bbox is not None:
            b = query.bbox
            params.update(bw=b.min_lon, bs=b.min_lat, be=b.max_lon, bn=b.max_lat)
            where.append("lat BETWEEN :bs AND :bn AND lon BETWEEN :bw AND :be")
        return where

    @staticmethod
    def _facet_clause(facet: str, params: dict) -> str:
        name = f"f_{facet}"
        if facet in MULTI:
            return f"{facet} && CAST(:{name} AS text[])"
        return f"{facet} = ANY(CAST(:{name} AS text[]))"

    async def search(self, query: SearchQuery) -> dict[str, Any]:
        params: dict[str, Any] = {f"f_{k}": list(v) for k, v in query.filters.items()}
        base = self._base(query, params)
        clauses = {facet: self._facet_clause(facet, params) for facet in query.filters}
        where = " AND ".join(base + list(clauses.values()))

        rank = "0"
        if query.tokens:
            rank = "(ts_rank_cd(tsv, to_tsquery('french', :tsq)) + word_similarity(:qf, title_folded))"
        distance = HAVERSINE if query.geo is not None else "NULL"
        order = {
            "relevance": f"{rank} DESC, first_seen DESC, id",
            "newest": "first_seen DESC, id",
            "nearest": f"{HAVERSINE} ASC NULLS LAST, id",
        }[query.sort]
        params.update(limit=query.per_page, offset=query.offset)
        async with self.engine.connect() as conn:
            total = (await conn.execute(text(f"SELECT count(*) FROM search_documents WHERE {where}"), params)).scalar()
            rows = (await conn.execute(text(
                f"SELECT doc - 'project' AS doc, {distance} AS distance_km FROM search_documents "
                f"WHERE {where} ORDER BY {order} LIMIT :limit OFFSET :offset"), params)).all()
            facets, labels = {}, {}
            for facet in FACET_FIELDS:
                others = " AND ".join(base + [c for f, c in clauses.items() if f != facet])
                label_col = LABEL_COLUMNS.get(facet)
                label = f"min(doc->>'{label_col}')" if label_col else "NULL"
                if facet in MULTI:
                    sql = (f"SELECT v, NULL AS label, count(*) AS n FROM search_documents, unnest({facet}) AS v "
                           f"WHERE {others} GROUP BY v ORDER BY n DESC, v")
                else:
                    sql = (f"SELECT {facet} AS v, {label} AS label, count(*) AS n FROM search_documents "
                           f"WHERE {others} AND {facet} IS NOT NULL GROUP BY {facet} ORDER BY n DESC, v")
                result = (await conn.execute(text(sql), params)).all()
                facets[facet] = {r.v: r.n for r in result}
                if label_col:
                    labels[facet] = {r.v: r.label for r in result if r.label}
        hits = []
        for row in rows:
            hit = _load(row.doc)
            if row.distance_km is not None:
                hit["distance_km"] = round(row.distance_km, 2)
            hits.append(hit)
        return {"total": total, "hits": hits, "facets": facets, "labels": labels}


def make_search(backend: str, engine: AsyncEngine, meili_url: str | None = None, meili_key: str | None = None) -> SearchBackend:
    if backend == "postgres":
        return PostgresSearch(engine)
    from services.gateway.adapters.search_meili import MeiliSearch

    return MeiliSearch(meili_url, meili_key)
