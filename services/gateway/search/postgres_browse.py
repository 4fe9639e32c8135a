"""PostgreSQL search, beyond the result page: suggestions, similar projects nearby, map clusters,
statistics and the streamed export. Mixed into ``PostgresSearch``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text

from services.gateway.search.port import SIMILAR_RADIUS_KM
from services.gateway.search.postgres_sql import HAVERSINE, _load, _title_terms
from services.gateway.search.rules import Geo, SearchQuery, parse_search


class PostgresBrowse:
    async def suggest(self, query: SearchQuery, limit: int = 8) -> list[dict[str, Any]]:
        """Titles for search-as-you-type: every word in the title, the last one as a prefix; or
        close to a title word (typo)."""
        tokens = query.tokens
        if not tokens:
            return []
        params: dict[str, Any] = {"qf": " ".join(tokens), "limit": limit,
                                  "tsq": " & ".join(_title_terms(tokens))}
        async with self._read() as conn:
            rows = (await conn.execute(text(
                "SELECT id, doc->>'title' AS title, doc->>'commune_name' AS commune_name FROM search_documents "
                "WHERE NOT deleted AND (tsv @@ to_tsquery('french', :tsq) OR :qf <% title_folded) "
                "ORDER BY word_similarity(:qf, title_folded) DESC, first_seen DESC, id LIMIT :limit"), params)).all()
        return [{"id": r.id, "title": r.title, "commune_name": r.commune_name} for r in rows]

    async def similar(self, doc: dict[str, Any], limit: int = 6) -> list[dict[str, Any]]:
        """Projects sharing a theme, nearest first (within SIMILAR_RADIUS_KM when the project is
        located; same département otherwise)."""
        themes = doc.get("theme") or []
        if not themes:
            return []
        params: dict[str, Any] = {"id": doc["id"], "themes": themes, "limit": limit}
        where = ["NOT deleted", "id <> :id", "theme && CAST(:themes AS text[])"]
        if doc.get("lat") is not None and doc.get("lon") is not None:
            la1, la2, lo1, lo2 = Geo(doc["lat"], doc["lon"], SIMILAR_RADIUS_KM).bounds()
            params.update(glat=doc["lat"], glon=doc["lon"], gla1=la1, gla2=la2, glo1=lo1, glo2=lo2,
                          gr=SIMILAR_RADIUS_KM)
            where.append(f"lat BETWEEN :gla1 AND :gla2 AND lon BETWEEN :glo1 AND :glo2 AND {HAVERSINE} <= :gr")
            distance, order = HAVERSINE, f"cardinality(ARRAY(SELECT unnest(theme) INTERSECT SELECT unnest(CAST(:themes AS text[])))) DESC, {HAVERSINE}, id"
        elif doc.get("departement"):
            params["dep"] = doc["departement"]
            where.append("departement = :dep")
            distance, order = "NULL::float8", "first_seen DESC, id"
        else:
            return []
        async with self._read() as conn:
            rows = (await conn.execute(text(
                f"SELECT doc - 'project' AS doc, {distance} AS d FROM search_documents WHERE {' AND '.join(where)} "
                f"ORDER BY {order} LIMIT :limit"), params)).all()
        out = []
        for r in rows:
            hit = _load(r.doc)
            if r.d is not None:
                hit["distance_km"] = round(r.d, 2)
            out.append(hit)
        return out

    # ------------------------------------------------------------------ map, stats, export

    async def clusters(self, query: SearchQuery, cell_deg: float) -> list[dict[str, Any]]:
        """Grid clustering: one cluster per cell of ``cell_deg`` degrees holding matches; a cluster
        of one carries that project's id and title. From the candidate set in memory when the
        caches are on, else in SQL."""
        generation = await self._current_generation()
        plan = await self._plan(None, query)
        found = await self._in_memory(query, plan, generation)
        if found is not None:
            clusters = found.clusters(query, cell_deg)
            single = [found.ids[c["pos"]] for c in clusters if c["count"] == 1]
            docs = await self._documents(single, generation) if single else {}
            out = []
            for c in clusters:
                project_id = found.ids[c.pop("pos")]
                if c["count"] == 1:
                    doc = docs.get(project_id)
                    c.update(id=project_id, title=doc.get("title") if doc else None)
                else:
                    del c["commune_name"]
                out.append(c)
            return out
        params: dict[str, Any] = {"cell": cell_deg}
        where, _ = self._where(query, params, plan)
        async with self._read() as conn:
            rows = (await conn.execute(text(
                "WITH c AS (SELECT count(*) AS n, avg(lat) AS lat, avg(lon) AS lon, min(id) AS id, "
                f"min(commune_name) AS commune_name FROM search_documents WHERE {where} AND lat IS NOT NULL "
                "GROUP BY floor(lon / :cell), floor(lat / :cell)) "
                "SELECT c.n, c.lat, c.lon, c.id, c.commune_name, s.doc->>'title' AS title FROM c "
                "LEFT JOIN search_documents s ON c.n = 1 AND s.id = c.id ORDER BY c.n DESC, c.id"), params)).all()
        return [{"count": r.n, "lat": r.lat, "lon": r.lon,
                 **({"id": r.id, "title": r.title, "commune_name": r.commune_name} if r.n == 1 else {})}
                for r in rows]

    async def stats(self) -> dict[str, Any]:
        result = await self.search(parse_search(per_page=1, sort="newest"))  # counts only: no shuffle to compute
        async with self._read() as conn:
            months = (await conn.execute(text(
                "SELECT to_char(date_trunc('month', first_seen AT TIME ZONE 'UTC'), 'YYYY-MM') AS m, count(*) AS n "
                "FROM search_documents WHERE NOT deleted AND first_seen IS NOT NULL GROUP BY 1 ORDER BY 1"))).all()
        return {"total": result["total"], "facets": result["facets"], "labels": result["labels"],
                "first_seen_by_month": {r.m: r.n for r in months}}

    async def export(self, query: SearchQuery, limit: int) -> AsyncIterator[dict[str, Any]]:
        """Every match (up to ``limit``) in the search's order, streamed from a server-side cursor."""
        params: dict[str, Any] = {"limit": limit}
        plan = await self._plan(None, query)
        where, rank = self._where(query, params, plan)
        if query.geo is not None:
            params.update(glat=query.geo.lat, glon=query.geo.lon)
        order = self._export_order(query, rank, params)
        async with self.engine.connect() as conn:  # a server-side cursor lives in a transaction
            result = await conn.stream(text(
                f"SELECT doc - 'project' || jsonb_build_object('sources', doc->'project'->'sources') AS doc "
                f"FROM search_documents WHERE {where} ORDER BY {order} LIMIT :limit"), params)
            async for row in result:
                yield _load(row.doc)
