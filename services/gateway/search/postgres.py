"""Search backends, read side. One interface; PostgreSQL is the embedded default.

The PostgreSQL reader queries ``search_documents`` written by the indexer:
- text: French full-text on accent-folded text (title weighted above body), the last word
  matched as a prefix (search-as-you-type); the query read as concepts (``relevance.py``: stop
  words, noise, synonyms, typos corrected from the index's words), the most important required,
  ranked by how many are matched (``text_sql``), equally relevant hits in the fair daily order;
- filters: OR within a facet, AND across facets; facet counts are disjunctive (each facet is
  counted with every filter but its own), so a visitor sees what ticking another value adds;
- geo: radius (bounding-box prefilter, then haversine) and bbox.

Uncached, a search is ONE round trip: a CTE selects the rows that match the text and geo
conditions once, with one boolean per filtered facet; the total, the page and the eight facet
counts are aggregated from it in the same statement (``json_build_object``). With the caches on,
the rows matching the words are read once per index generation and the rest is computed in
memory (``candidates.py``, same semantics, checked against this SQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.search import FACET_FIELDS
from services.gateway.search.cache import IndexGeneration, ResultCache
from services.gateway.search.candidates import COLUMNS, LABEL_COLUMNS, MULTI, Candidates
from services.gateway.search.postgres_browse import PostgresBrowse
from services.gateway.search.postgres_sql import (
    _GENERATION,
    CANDIDATE_ROW_BYTES,
    FACET_LIMIT,
    HAVERSINE,
    TOO_BIG,
    _load,
    _log,
    _positional,
    text_sql,
)
from services.gateway.search.postgres_words import PostgresWords
from services.gateway.search.relevance import (
    RELEVANCE_STEPS,
    SHUFFLE_SQL,
    Concept,
    Plan,
)
from services.gateway.search.rules import SearchQuery
from services.gateway.search.similar import PostgresElsewhere

DOC_BYTES_PER_JSON_BYTE = 6
"""What a hit document parsed from JSON holds in memory per byte of its JSON (dicts, strings,
lists): 5.4 on generated documents, 5.7 at most (``tests/unit/test_search_doc_size.py``); the
documents cache charges each document this much, so its bound in bytes holds."""


class PostgresSearch(PostgresBrowse, PostgresWords, PostgresElsewhere):
    """``cache_mb`` > 0 turns on the per-process caches, all exact (invalidated by the index
    generation; ``max_stale_ms``: see ``search_cache``): candidate sets (the projects matching a
    search's words, as columns: facets, geo, sort and page are then computed in memory by
    ``candidates.py``), the documents shown in hits, and whole answers (``memo``, used by the
    API handler for its serialised, highlighted answer). With ``cache_mb`` = 0, every search is
    one SQL statement (``_search``); so is one whose candidate set would not fit its share, and one
    whose candidate set is not in memory while the index changes: a candidate set is read only
    once the generation has stood ``settle_ms`` (during an ingest, every write would empty it
    again, and reading candidate sets per write cost 6× the SQL search: 55 against 321 req/s)."""

    def __init__(self, engine: AsyncEngine, cache_mb: float = 0, max_stale_ms: float = 0, settle_ms: float = 0):
        self.engine = engine
        self._df: dict[tuple, tuple[Concept, int, float, int | None]] = {}  # signature: (concept used, df,
        # valid until, index generation when counted)
        self._n_docs: tuple[int, float] = (0, float("-inf"))
        self._vocab: dict[int, list[str]] = {}
        self._vocab_set: set[str] = set()
        self._vocab_since = datetime.min.replace(tzinfo=UTC)
        self._vocab_until = float("-inf")
        total = int(cache_mb * 1024 * 1024)
        self.cache = ResultCache(total * 3 // 10, "answers") if cache_mb > 0 else None
        self.candidates = ResultCache(total * 4 // 10, "candidates", max_item=1 / 2) if cache_mb > 0 else None
        self.docs = ResultCache(total * 3 // 10, "documents", max_item=1 / 256) if cache_mb > 0 else None
        self._loading: dict[tuple, asyncio.Future] = {}
        self.candidate_reads = 0
        self.settle_s = settle_ms / 1000
        self.generation = IndexGeneration(self._read_generation, max_stale_ms / 1000)
        size = getattr(engine.pool, "size", None)
        self._slots = asyncio.Semaphore(max(1, min(size() if callable(size) else 8, 8)))

    @asynccontextmanager
    async def _raw(self):
        """The pooled connection's asyncpg connection: the hot queries skip SQLAlchemy's statement
        handling (no BEGIN either: asyncpg outside a transaction is autocommit).

        At most as many at once as the pool keeps open (8 at most): beyond that, the pool's
        overflow connections were opened and closed for every request under load (a backend
        fork, authentication and cold statement caches each time: 10-15 % of the gateway's CPU
        at 32 clients, more on the database side); queueing here costs nothing the CPU had."""
        async with self._slots, self.engine.connect() as conn:
            yield (await conn.get_raw_connection()).driver_connection

    async def _read_generation(self) -> int:
        async with self._raw() as conn:
            return await conn.fetchval("SELECT generation FROM search_index_state WHERE id = 1")

    @asynccontextmanager
    async def _read(self):
        """A pooled connection in autocommit: a read is one round trip, no BEGIN/ROLLBACK around it."""
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.execute(text("SELECT 1"))

    async def get(self, project_id: str) -> dict[str, Any] | None:
        async with self._read() as conn:
            row = (await conn.execute(
                text("SELECT doc FROM search_documents WHERE id=:id AND NOT deleted"), {"id": project_id}
            )).first()
        return _load(row.doc) if row else None

    # ------------------------------------------------------------------ query building

    async def _row(self, conn, sql: str, params: dict) -> Any:
        if conn is None or hasattr(conn, "fetchrow"):  # asyncpg
            sql, args = _positional(sql, params)
            if conn is None:
                async with self._raw() as raw:
                    return await raw.fetchrow(sql, *args)
            return await conn.fetchrow(sql, *args)
        return (await conn.execute(text(sql), params)).first()

    def _base(self, query: SearchQuery, params: dict, conds: list[str]) -> list[str]:
        where = ["NOT deleted", *conds]
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
    def _facet_clause(facet: str) -> str:
        name = f"f_{facet}"
        if facet in MULTI:
            return f"{facet} && CAST(:{name} AS text[])"
        return f"{facet} = ANY(CAST(:{name} AS text[]))"

    def _where(self, query: SearchQuery, params: dict, plan: Plan) -> tuple[str, str]:
        """The WHERE clause of ``query`` and its rank expression."""
        params.update({f"f_{k}": list(v) for k, v in query.filters.items()})
        conds, rank = text_sql(plan, params)
        where = self._base(query, params, conds) + [self._facet_clause(f) for f in query.filters]
        return " AND ".join(where), rank

    @staticmethod
    def _export_order(query: SearchQuery, rank: str, params: dict) -> str:
        """Export order: the search's, less the spreading of sources (relevance buckets, then the
        day's shuffle)."""
        if query.sort == "relevance":
            params["salt"] = query.salt
            return f"floor({rank} * {RELEVANCE_STEPS}) DESC, {SHUFFLE_SQL}, id"
        if query.sort == "newest":
            return f"floor({rank}) DESC, first_seen DESC, id"
        return f"floor({rank}) DESC, {HAVERSINE} ASC NULLS LAST, id"

    # ------------------------------------------------------------------ search

    async def _current_generation(self) -> int | None:
        """The index generation (the one ``memo`` read, inside it), or None: caches off, or no
        generation table (migration 0010 not applied yet: searches run uncached)."""
        if self.cache is None:
            return None
        known = _GENERATION.get()
        if known is not None:
            return known
        try:
            return await self.generation.current()
        except asyncpg.PostgresError as exc:
            _log.warning("search cache bypassed: no index generation", error=f"{type(exc).__name__}: {exc}")
            return None

    async def memo(self, key: Hashable, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        """``compute()``'s bytes (a serialised answer), cached under ``key`` for this index
        generation; the searches ``compute`` runs use that same generation."""
        generation = await self._current_generation()
        if generation is None:
            return await compute()
        raw = self.cache.get(key, generation)
        if raw is None:
            token = _GENERATION.set(generation)
            try:
                raw = await compute()
            finally:
                _GENERATION.reset(token)
            self.cache.put(key, generation, raw)
        return raw

    async def search(self, query: SearchQuery) -> dict[str, Any]:
        generation = await self._current_generation()  # first: the plan's remembered zeros depend on it
        plan = await self._plan(None, query)
        found = await self._in_memory(query, plan, generation)
        if found is None:
            result = self._from_sql(await self._search(query, plan))
        else:
            answer = found.answer(query, FACET_LIMIT)
            docs = await self._documents([found.ids[i] for i in answer.page], generation)
            hits = []
            for i, distance in zip(answer.page, answer.distances):
                doc = docs.get(found.ids[i])
                if doc is None:  # deleted since the candidate set was read
                    continue
                hit = dict(doc)
                if distance is not None:
                    hit["distance_km"] = round(distance, 2)
                hits.append(hit)
            result = {"total": answer.total, "hits": hits, "facets": answer.facets, "labels": answer.labels}
        result["ignored"] = list(plan.ignored)
        result["did_you_mean"] = await self._did_you_mean(query, plan) if not result["total"] else None
        return result

    @staticmethod
    def _from_sql(raw: bytes) -> dict[str, Any]:
        result = orjson.loads(raw)
        facets, labels = {}, {}
        for facet in FACET_FIELDS:
            rows = result[facet]
            facets[facet] = {v: n for v, n, _ in rows}
            if facet in LABEL_COLUMNS:
                labels[facet] = {v: label for v, _, label in rows if label}
        hits = []
        for row in result["hits"]:
            hit = row["doc"]
            if row["distance_km"] is not None:
                hit["distance_km"] = round(row["distance_km"], 2)
            hits.append(hit)
        return {"total": result["total"], "hits": hits, "facets": facets, "labels": labels}

    # ------------------------------------------------------------------ candidate sets, documents

    async def _in_memory(self, query: SearchQuery, plan: Plan, generation: int | None) -> Candidates | None:
        """The candidate set to answer ``query`` from at ``generation``; None when the search must
        run in SQL (caches off, set too big, index not settled)."""
        return await self._candidates(query, plan, generation) if generation is not None else None

    async def _candidates(self, query: SearchQuery, plan: Plan, generation: int) -> Candidates | None:
        """The candidate set of ``query``'s words at ``generation`` (read once, shared by the
        requests that ask meanwhile); None when it is too big for its cache share. The set
        depends on the day too: its shuffle keys are computed by the database with the day's salt."""
        key = (plan.signature, query.salt)
        found = self.candidates.get(key, generation)
        if found is None:
            if not self.generation.settled(generation, self.settle_s):
                return None
            loading = self._loading.get((key, generation))
            if loading is None:
                loading = asyncio.ensure_future(self._load_candidates(query, plan, key, generation))
                self._loading[(key, generation)] = loading
                loading.add_done_callback(lambda _: self._loading.pop((key, generation), None))
            found = await asyncio.shield(loading)
        return found if isinstance(found, Candidates) else None

    async def _load_candidates(self, query: SearchQuery, plan: Plan, key: tuple, generation: int) -> Candidates | str:
        self.candidate_reads += 1
        cap = max(1, self.candidates.max_item_bytes // CANDIDATE_ROW_BYTES)
        params: dict[str, Any] = {"cap": cap + 1, "salt": query.salt}
        conds, rank = text_sql(plan, params)
        columns = ", ".join(["id", "coalesce(extract(epoch FROM first_seen)::float8, 'Infinity')",
                             f"({rank})::float8", "coalesce(lat, 'NaN')",
                             "coalesce(lon, 'NaN')", *COLUMNS[5:-1], SHUFFLE_SQL])
        sql, args = _positional(f"SELECT {columns} FROM search_documents WHERE {' AND '.join(['NOT deleted', *conds])} "
                                "ORDER BY id LIMIT :cap", params)
        async with self._raw() as conn:
            rows = await conn.fetch(sql, *args)
        found = Candidates(rows) if len(rows) <= cap else None
        if found is None or found.nbytes > self.candidates.max_item_bytes:
            self.candidates.put(key, generation, TOO_BIG, 64)  # this generation searches these words in SQL
            return TOO_BIG
        self.candidates.put(key, generation, found, found.nbytes)
        return found

    async def _documents(self, ids: list[str], generation: int) -> dict[str, dict[str, Any]]:
        """The hit documents (``doc`` without ``project``) of ``ids`` that are not deleted."""
        out: dict[str, dict[str, Any]] = {}
        missing = []
        for project_id in ids:
            doc = self.docs.get(project_id, generation)
            if doc is None:
                missing.append(project_id)
            else:
                out[project_id] = doc
        if missing:
            async with self._raw() as conn:
                rows = await conn.fetch("SELECT id, (doc - 'project')::text AS doc FROM search_documents "
                                        "WHERE id = ANY($1::text[]) AND NOT deleted", missing)
            for row in rows:
                doc = out[row["id"]] = orjson.loads(row["doc"])
                self.docs.put(row["id"], generation, doc, DOC_BYTES_PER_JSON_BYTE * len(row["doc"]))
        return out

    async def _search(self, query: SearchQuery, plan: Plan) -> bytes:
        """The search's JSON (total, hits, facets) as the database wrote it: one round trip."""
        params: dict[str, Any] = {f"f_{k}": list(v) for k, v in query.filters.items()}
        async with self._raw() as conn:
            conds, rank = text_sql(plan, params)
            base = self._base(query, params, conds)
            flags = {f: f"m_{f}" for f in query.filters}
            # the candidate rows, narrow: no jsonb, no tsvector; rank and distance computed once
            # rank and distance only for rows that pass every filter (the others only feed facet counts)
            every = " AND ".join(self._facet_clause(f) for f in flags) or "true"
            fair = query.sort == "relevance"
            if fair:
                params["salt"] = query.salt
            columns = ", ".join(["id", "first_seen", *FACET_FIELDS, *LABEL_COLUMNS.values(),
                                 f"CASE WHEN {every} THEN {rank} END AS r",
                                 f"CASE WHEN {every} THEN {HAVERSINE if query.geo is not None else 'NULL::float8'} "
                                 "END AS d",
                                 *([f"{SHUFFLE_SQL} AS h"] if fair else []),
                                 *(f"({self._facet_clause(f)}) AS {flag}" for f, flag in flags.items())])

            def matching(without: str | None = None) -> str:
                conds = [flag for f, flag in flags.items() if f != without]
                return " AND ".join(conds) if conds else "true"

            if fair:  # equal relevance: each set of sources spread by its share, then the day's shuffle
                rows = ("(SELECT id, d, b, h, (row_number() OVER (PARTITION BY b, source ORDER BY h, id) - 0.5)::float8 "
                        "/ count(*) OVER (PARTITION BY b, source) AS fk "
                        f"FROM (SELECT id, d, h, source, floor(r * {RELEVANCE_STEPS}) AS b FROM m WHERE {matching()}) x) y")
                order = "b DESC, fk, h, id"
            else:
                rows = f"m WHERE {matching()}"
                order = ("floor(r) DESC, first_seen DESC, id" if query.sort == "newest"
                         else "floor(r) DESC, d ASC NULLS LAST, id")
            parts = [
                f"'total', (SELECT count(*) FROM m WHERE {matching()})",
                "'hits', (SELECT coalesce(json_agg(json_build_object('doc', s.doc - 'project', 'distance_km', page.d) "
                "ORDER BY page.rn), '[]') "
                f"FROM (SELECT id, d, row_number() OVER (ORDER BY {order}) AS rn FROM {rows} "
                f"ORDER BY {order} LIMIT :limit OFFSET :offset) page "
                "JOIN search_documents s ON s.id = page.id)",
            ]
            for facet in FACET_FIELDS:
                if facet in MULTI:
                    sql = (f"SELECT v, NULL AS label, count(*) AS n FROM m, unnest({facet}) AS v "
                           f"WHERE {matching(facet)} GROUP BY v")
                else:
                    label = f"min({LABEL_COLUMNS[facet]})" if facet in LABEL_COLUMNS else "NULL"
                    sql = (f"SELECT {facet} AS v, {label} AS label, count(*) AS n FROM m "
                           f"WHERE {matching(facet)} AND {facet} IS NOT NULL GROUP BY {facet}")
                parts.append(f"'{facet}', (SELECT coalesce(json_agg(json_build_array(v, n, label) "
                             f"ORDER BY n DESC, v), '[]') FROM ({sql} ORDER BY n DESC, v LIMIT {FACET_LIMIT}) f)")
            if len(flags) > 1:  # a row failing two filters counts nowhere: leave it out of the candidates
                base = [*base, " + ".join(f"(CASE WHEN {self._facet_clause(f)} THEN 0 ELSE 1 END)" for f in flags)
                        + " <= 1"]
            sql = (f"WITH m AS MATERIALIZED (SELECT {columns} FROM search_documents WHERE {' AND '.join(base)}) "
                   f"SELECT json_build_object({', '.join(parts)})::text AS r")
            params.update(limit=query.per_page, offset=query.offset)
            sql, args = _positional(sql, params)
            raw = await conn.fetchval(sql, *args)
        return raw.encode()

    # ------------------------------------------------------------------ suggest, similar
