"""Meilisearch search backend: the same answers as :class:`PostgresSearch`, from the index the
indexer's ``MeiliIndexWriter`` maintains.

- text: the same concepts as the PostgreSQL reader (``relevance.py``: stop words, numbers and
  noise left out, synonyms grouped — Meilisearch has the same stop words and synonyms in its
  settings), ordered by the same importance from document frequencies Meilisearch counts
  (one ``limit: 0`` query per concept, remembered a minute), sent most important first with
  ``matchingStrategy: last``: projects with every concept first, then those missing the least
  important ones; the last word sent is a prefix; typo tolerance is Meilisearch's own;
- equally relevant hits (the same ``_rankingScore`` step) are put in the fair daily order
  (``relevance.fair_order``) within the first FAIR_WINDOW hits;
- filters: OR within a facet (``IN [...]``), AND across facets; tombstones (``deleted = true``)
  are always filtered out;
- facets are disjunctive: one multi-search holds the page query (which also counts the facets
  nobody filters on) plus one query per filtered facet, run with every filter but its own;
- geo: ``_geoRadius`` (metres) and ``_geoBoundingBox``; ``distance_km`` is computed from the hit's
  coordinates with the PostgreSQL reader's haversine (``_geoDistance`` only comes back when
  sorting by ``_geoPoint``, and rounded to the metre);
- labels of region / département / commune come from the ``<facet>_label`` ("code|name") facets
  the writer indexes, completed from the hits' ``*_name`` fields.

The ``meilisearch`` client is synchronous: calls run in worker threads, one client per thread.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from typing import Any

import meilisearch
from meilisearch.errors import MeilisearchApiError

from libs.contracts.geo import haversine_km
from libs.contracts.search import FACET_FIELDS, MEILI_INDEX, SearchDocument
from services.gateway.search.port import MAX_MAP_POINTS, SIMILAR_RADIUS_KM
from services.gateway.search.relevance import (
    RELEVANCE_STEPS,
    Plan,
    concepts,
    fair_order,
    make_plan,
    shuffle_key,
)
from services.gateway.search.rules import SearchQuery, grid_clusters, parse_search
from services.gateway.search.similar import ELSEWHERE, POOL_PER_RESULT, pick_elsewhere, significant_words, theme_overlap

HIT_FIELDS = list(SearchDocument.model_fields)
LABELLED = {"country": "country_name", "region": "region_name", "departement": "departement_name",
            "commune": "commune_name"}
"""Same convention as the indexer's writer: ``<facet>_label`` = ``"<code>|<name>"``."""
LABEL_SEPARATOR = "|"
DOCUMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,511}$")  # what Meilisearch accepts as a document id
REQUEST_TIMEOUT_S = 10
FREQUENCIES_TTL_S = 60.0
FAIR_WINDOW = 1000
"""Hits fetched to put equally relevant ones in the fair order (pages beyond: Meilisearch's order)."""


class MeiliUnavailable(RuntimeError):
    """Meilisearch answered, but not as available."""


def _num(value: float) -> str:
    return format(float(value), ".7f")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ordered(distribution: dict[str, int]) -> dict[str, int]:
    return dict(sorted(distribution.items(), key=lambda kv: (-kv[1], kv[0])))


class MeiliSearch:
    def __init__(self, url: str, key: str | None = None, *, index: str = MEILI_INDEX):
        if not url:
            raise ValueError("MeiliSearch needs the Meilisearch URL (MEILI_URL)")
        self.url, self.key, self.index_uid = url, key, index
        self._local = threading.local()
        self._df: dict[tuple, tuple[int, float]] = {}
        self._n_docs: tuple[int, float] = (0, float("-inf"))

    def _client(self) -> meilisearch.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = meilisearch.Client(self.url, self.key, timeout=REQUEST_TIMEOUT_S)
        return client

    # ------------------------------------------------------------------ SearchBackend

    async def memo(self, key, compute):
        """No answer cache: Meilisearch answers repeated searches from its own caches."""
        return await compute()

    async def ping(self) -> None:
        health = await asyncio.to_thread(lambda: self._client().health())
        if health.get("status") != "available":
            raise MeiliUnavailable(f"Meilisearch at {self.url} reports {health!r}")

    async def get(self, project_id: str) -> dict[str, Any] | None:
        if not DOCUMENT_ID.match(project_id):
            return None
        try:
            stored = await asyncio.to_thread(lambda: self._client().index(self.index_uid).get_document(project_id))
        except MeilisearchApiError as exc:
            if exc.code in ("document_not_found", "index_not_found"):
                return None
            raise
        doc = dict(stored)
        if doc.get("deleted"):
            return None
        return {k: doc.get(k) for k in [*HIT_FIELDS, "project"] if k in doc}

    async def _plan(self, query: SearchQuery) -> Plan:
        """The PostgreSQL reader's plan, from Meilisearch's own counts (typos included)."""
        found = concepts(query.tokens)
        if not found:
            return Plan()
        now = time.monotonic()
        missing = list({c.signature: c for c in found  # a zero is counted again: a new word is found at once
                        if self._df.get(c.signature, (0, 0.0))[1] < now or not self._df[c.signature][0]}.values())
        if missing or self._n_docs[1] < now:
            bodies = [{"indexUid": self.index_uid, "q": "", "filter": "deleted = false", "limit": 0}]
            bodies += [{"indexUid": self.index_uid, "q": c.alternatives[0], "matchingStrategy": "all",
                        "filter": "deleted = false", "limit": 0} for c in missing]
            try:
                results = (await asyncio.to_thread(lambda: self._client().multi_search(bodies)))["results"]
            except MeilisearchApiError as exc:
                if exc.code != "index_not_found":
                    raise
                results = [{}] * len(bodies)
            counts = [r.get("totalHits", r.get("estimatedTotalHits", 0)) or 0 for r in results]
            self._n_docs = (counts[0], now + FREQUENCIES_TTL_S)
            for c, n in zip(missing, counts[1:]):
                self._df[c.signature] = (n, now + FREQUENCIES_TTL_S)
        return make_plan(found, [self._df[c.signature][0] for c in found], self._n_docs[0])

    @staticmethod
    def _q(plan: Plan) -> str:
        """The concepts, most important first (``matchingStrategy: last`` drops from the end)."""
        return " ".join(c.alternatives[0] for c in plan.concepts)

    async def search(self, query: SearchQuery) -> dict[str, Any]:
        plan = await self._plan(query)
        result = await self._search(query, plan)
        result["ignored"] = list(plan.ignored)
        result["did_you_mean"] = None  # typos are Meilisearch's own tolerance
        return result

    async def _search(self, query: SearchQuery, plan: Plan) -> dict[str, Any]:
        if plan.nothing:  # every word matches nothing: no project, no facet value (as in PostgreSQL)
            return {"total": 0, "hits": [], "facets": {f: {} for f in FACET_FIELDS},
                    "labels": {f: {} for f in LABELLED}}
        base = ["deleted = false"]
        if query.geo is not None and query.geo.radius_km is not None:
            g = query.geo
            base.append(f"_geoRadius({_num(g.lat)}, {_num(g.lon)}, {_num(g.radius_km * 1000)})")
        if query.bbox is not None:
            b = query.bbox  # top-right corner, then bottom-left corner
            base.append(f"_geoBoundingBox([{_num(b.max_lat)}, {_num(b.max_lon)}], "
                        f"[{_num(b.min_lat)}, {_num(b.min_lon)}])")
        clauses = {facet: f"{facet} IN [{', '.join(_quote(v) for v in values)}]"
                   for facet, values in query.filters.items()}

        def where(*, without: str | None = None) -> str:
            return " AND ".join(f"({c})" for c in [*base, *(c for f, c in clauses.items() if f != without)])

        def with_labels(facets: list[str]) -> list[str]:
            return [*facets, *(f"{f}_label" for f in facets if f in LABELLED)]

        q = self._q(plan)
        common = {"indexUid": self.index_uid, "q": q, "matchingStrategy": "last"}
        fair = query.sort == "relevance" and query.offset + query.per_page <= FAIR_WINDOW
        main: dict[str, Any] = {
            **common, "filter": where(), "page": query.page, "hitsPerPage": query.per_page,
            "attributesToRetrieve": HIT_FIELDS,
            "facets": with_labels([f for f in FACET_FIELDS if f not in clauses]),
        }
        if fair:  # the whole window, ordered fairly here, then the page cut from it
            main.update(page=1, hitsPerPage=FAIR_WINDOW, showRankingScore=True)
        newest = ["first_seen_ts:desc", "id:asc"]
        if query.sort == "newest":
            main["sort"] = newest
        elif query.sort == "nearest" and query.geo is not None:
            main["sort"] = [f"_geoPoint({_num(query.geo.lat)}, {_num(query.geo.lon)}):asc", "id:asc"]
        disjunctive = [
            {**common, "filter": where(without=facet), "limit": 0, "attributesToRetrieve": ["id"],
             "facets": with_labels([facet])}
            for facet in clauses
        ]

        try:
            response = await asyncio.to_thread(lambda: self._client().multi_search([main, *disjunctive]))
        except MeilisearchApiError as exc:
            if exc.code == "index_not_found":  # nothing indexed yet
                return {"total": 0, "hits": [], "facets": {f: {} for f in FACET_FIELDS},
                        "labels": {f: {} for f in LABELLED}}
            raise
        results = response["results"]
        distributions: dict[str, dict[str, int]] = dict(results[0].get("facetDistribution") or {})
        for facet, result in zip(clauses, results[1:]):
            own = result.get("facetDistribution") or {}
            for name in with_labels([facet]):
                distributions[name] = own.get(name) or {}

        facets = {f: _ordered(distributions.get(f) or {}) for f in FACET_FIELDS}
        labels: dict[str, dict[str, str]] = {f: {} for f in LABELLED}
        for facet in LABELLED:
            for value in distributions.get(f"{facet}_label") or {}:
                code, sep, name = value.partition(LABEL_SEPARATOR)
                if sep and name and code in facets[facet]:
                    labels[facet][code] = min(name, labels[facet].get(code, name))

        raws = results[0].get("hits") or []
        if fair:
            items = [(math.floor((r.get("_rankingScore") or 0.0) * RELEVANCE_STEPS),
                      tuple(sorted(r.get("source") or ())), shuffle_key(r["id"], query.salt), r["id"]) for r in raws]
            raws = [raws[i] for i in fair_order(items)][query.offset:query.offset + query.per_page]
        hits = []
        for raw in raws:
            hit = {k: raw.get(k) for k in HIT_FIELDS}
            for facet, name_field in LABELLED.items():
                code, name = hit.get(facet), hit.get(name_field)
                if code and name and code in facets[facet]:
                    labels[facet].setdefault(code, name)
            if query.geo is not None and hit.get("lat") is not None and hit.get("lon") is not None:
                hit["distance_km"] = round(haversine_km(query.geo.lat, query.geo.lon, hit["lat"], hit["lon"]), 2)
            hits.append(hit)
        labels = {f: {code: labels[f][code] for code in facets[f] if code in labels[f]} for f in LABELLED}
        return {"total": results[0].get("totalHits", 0), "hits": hits, "facets": facets, "labels": labels}

    # ------------------------------------------------------------------ suggest, similar, map, stats, export

    async def _search_one(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await asyncio.to_thread(
                lambda: self._client().multi_search([{"indexUid": self.index_uid, **body}]))
        except MeilisearchApiError as exc:
            if exc.code == "index_not_found":
                return {"hits": [], "totalHits": 0, "facetDistribution": {}}
            raise
        return response["results"][0]

    def _filter(self, query: SearchQuery) -> str:
        parts = ["deleted = false"]
        if query.geo is not None and query.geo.radius_km is not None:
            g = query.geo
            parts.append(f"_geoRadius({_num(g.lat)}, {_num(g.lon)}, {_num(g.radius_km * 1000)})")
        if query.bbox is not None:
            b = query.bbox
            parts.append(f"_geoBoundingBox([{_num(b.max_lat)}, {_num(b.max_lon)}], "
                         f"[{_num(b.min_lat)}, {_num(b.min_lon)}])")
        parts += [f"{facet} IN [{', '.join(_quote(v) for v in values)}]" for facet, values in query.filters.items()]
        return " AND ".join(f"({p})" for p in parts)

    async def suggest(self, query: SearchQuery, limit: int = 8) -> list[dict[str, Any]]:
        if not query.tokens:
            return []
        result = await self._search_one({
            "q": " ".join(query.tokens), "matchingStrategy": "all", "filter": "deleted = false", "limit": limit,
            "attributesToSearchOn": ["title"], "attributesToRetrieve": ["id", "title", "commune_name"]})
        return [{"id": h["id"], "title": h.get("title"), "commune_name": h.get("commune_name")}
                for h in result.get("hits") or []]

    async def similar(self, doc: dict[str, Any], limit: int = 6) -> list[dict[str, Any]]:
        themes = doc.get("theme") or []
        if not themes:
            return []
        parts = ["deleted = false", f"id != {_quote(doc['id'])}", f"theme IN [{', '.join(_quote(t) for t in themes)}]"]
        body: dict[str, Any] = {"q": "", "limit": limit, "attributesToRetrieve": HIT_FIELDS}
        if doc.get("lat") is not None and doc.get("lon") is not None:
            parts.append(f"_geoRadius({_num(doc['lat'])}, {_num(doc['lon'])}, {_num(SIMILAR_RADIUS_KM * 1000)})")
            body["sort"] = [f"_geoPoint({_num(doc['lat'])}, {_num(doc['lon'])}):asc", "id:asc"]
        elif doc.get("departement"):
            parts.append(f"departement = {_quote(doc['departement'])}")
            body["sort"] = ["first_seen_ts:desc", "id:asc"]
        else:
            return []
        body["filter"] = " AND ".join(f"({p})" for p in parts)
        result = await self._search_one(body)
        hits = []
        for raw in result.get("hits") or []:
            hit = {k: raw.get(k) for k in HIT_FIELDS}
            if doc.get("lat") is not None and hit.get("lat") is not None:
                hit["distance_km"] = round(haversine_km(doc["lat"], doc["lon"], hit["lat"], hit["lon"]), 2)
            hits.append(hit)
        return hits

    async def elsewhere(self, doc: dict[str, Any], limit: int = ELSEWHERE) -> list[dict[str, Any]]:
        """Written against Meilisearch's documented multi-search API (``matchingStrategy: frequency``,
        ``showRankingScore``, ``NOT _geoRadius``); exercised by the conformance suite where a server runs."""
        words, themes = significant_words(doc), list(doc.get("theme") or [])
        if not words and not themes:
            return []
        parts = ["deleted = false", f"id != {_quote(doc['id'])}"]
        if doc.get("departement"):
            parts.append(f"NOT departement = {_quote(doc['departement'])}")
        if doc.get("lat") is not None and doc.get("lon") is not None:
            parts.append(f"NOT _geoRadius({_num(doc['lat'])}, {_num(doc['lon'])}, {_num(SIMILAR_RADIUS_KM * 1000)})")
        where = " AND ".join(f"({p})" for p in parts)
        common = {"indexUid": self.index_uid, "limit": limit * POOL_PER_RESULT, "showRankingScore": True,
                  "attributesToRetrieve": [*HIT_FIELDS, "project"]}
        queries = []
        if words:
            queries.append({**common, "q": " ".join(words), "matchingStrategy": "frequency", "filter": where})
        if themes:
            queries.append({**common, "q": "", "filter": f"{where} AND (theme IN [{', '.join(map(_quote, themes))}])",
                            "sort": ["first_seen_ts:desc", "id:asc"]})
        try:
            response = await asyncio.to_thread(lambda: self._client().multi_search(queries))
        except MeilisearchApiError as exc:
            if exc.code == "index_not_found":
                return []
            raise
        scored: dict[str, tuple[float, dict[str, Any]]] = {}
        for i, result in enumerate(response["results"]):
            text_query = bool(words) and i == 0
            for raw in result.get("hits") or []:
                hit = {k: raw.get(k) for k in HIT_FIELDS}
                hit["sources"] = (raw.get("project") or {}).get("sources") or []
                score = theme_overlap(themes, hit.get("theme")) + (raw.get("_rankingScore", 0.0) if text_query else 0)
                if score > scored.get(hit["id"], (-1.0, None))[0]:
                    scored[hit["id"]] = (score, hit)
        ranked = sorted(scored.values(), key=lambda sh: (-sh[0], sh[1].get("id")))
        return pick_elsewhere(doc, [h for _, h in ranked], limit)

    async def clusters(self, query: SearchQuery, cell_deg: float) -> list[dict[str, Any]]:
        """Meilisearch cannot aggregate by grid cell: the matches' coordinates are fetched (up to
        its result window) and clustered with the gateway's pure grid clustering."""
        plan = await self._plan(query)
        if plan.nothing:
            return []
        result = await self._search_one({
            "q": self._q(plan), "matchingStrategy": "last", "filter": self._filter(query),
            "limit": MAX_MAP_POINTS, "attributesToRetrieve": ["id", "title", "commune_name", "lat", "lon"]})
        return grid_clusters(result.get("hits") or [], cell_deg)

    async def stats(self) -> dict[str, Any]:
        result = await self.search(parse_search(per_page=1, sort="newest"))  # counts only: no shuffle to compute
        months = await self._search_one({"q": "", "filter": "deleted = false", "limit": 0,
                                         "facets": ["first_seen_month"]})
        by_month = (months.get("facetDistribution") or {}).get("first_seen_month") or {}
        return {"total": result["total"], "facets": result["facets"], "labels": result["labels"],
                "first_seen_by_month": dict(sorted(by_month.items()))}

    async def export(self, query: SearchQuery, limit: int):
        """Page through the matches (Meilisearch caps a search at its maxTotalHits, 10,000)."""
        page, size, sent = 1, 500, 0
        sort = None
        plan = await self._plan(query)
        if plan.nothing:
            return
        if query.sort == "newest":
            sort = ["first_seen_ts:desc", "id:asc"]
        elif query.sort == "nearest" and query.geo is not None:
            sort = [f"_geoPoint({_num(query.geo.lat)}, {_num(query.geo.lon)}):asc", "id:asc"]
        while sent < limit:
            body: dict[str, Any] = {"q": self._q(plan), "matchingStrategy": "last",
                                    "filter": self._filter(query), "page": page, "hitsPerPage": size,
                                    "attributesToRetrieve": [*HIT_FIELDS, "project"]}
            if sort:
                body["sort"] = sort
            result = await self._search_one(body)
            hits = result.get("hits") or []
            for raw in hits:
                doc = {k: raw.get(k) for k in HIT_FIELDS}
                doc["sources"] = (raw.get("project") or {}).get("sources") or []
                yield doc
                sent += 1
                if sent >= limit:
                    return
            if len(hits) < size:
                return
            page += 1
