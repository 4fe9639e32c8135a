"""Projects like this one, elsewhere: the projects of other territories most similar to a project
(its words and its themes), at most one per partner, never the project itself nor a record of its
own cluster — so that one territory's innovation inspires the others.

- pure rules: the project's significant words (folded, French stop words left out, title words
  first), the theme overlap (Jaccard), and :func:`pick_elsewhere`, which walks the candidates from
  the most similar and keeps one per partner, skipping the project, anything sharing one of its
  source records or pages (a duplicate the deduplication did not merge), and anything in the same
  département or within the "nearby" radius (those are on the page already);
- one method per backend (``elsewhere(doc, limit)``), mixed into the readers: PostgreSQL ranks the
  candidates that share a theme or a word (GIN indexes) by theme overlap + text rank in one
  statement; Meilisearch asks two searches in one multi-search (the words, with its ``frequency``
  matching strategy that drops the commonest words first; the themes) and merges them by its
  ranking score + theme overlap. Both then apply the same :func:`pick_elsewhere`.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import orjson
from sqlalchemy import text

from libs.contracts.search import fold
from services.gateway.search.port import SIMILAR_RADIUS_KM
from services.gateway.search.rules import EARTH_RADIUS_KM, STOP_WORDS

ELSEWHERE = 4
"""Projects shown under « Ailleurs, des projets semblables »."""
MAX_WORDS = 12
MIN_WORD = 3
POOL_PER_RESULT = 15
"""Candidates read per result wanted: room for the partners and territories skipped."""


def significant_words(doc: dict[str, Any], limit: int = MAX_WORDS) -> list[str]:
    """Folded words of the title, then of the summary (the description when there is none): no stop
    words, no short words, no digits only, each once."""
    body = doc.get("summary") or (doc.get("description") or "")[:600]
    words = []
    for source in (doc.get("title") or "", body):
        for w in fold(source).split():
            if len(w) >= MIN_WORD and w not in STOP_WORDS and not w.isdigit() and w not in words:
                words.append(w)
    return words[:limit]


def theme_overlap(a: list[str] | None, b: list[str] | None) -> float:
    a, b = set(a or []), set(b or [])
    return len(a & b) / len(a | b) if a and b else 0.0


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat, dlon = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    h = math.sin(dlat / 2) ** 2 + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _records(doc: dict[str, Any]) -> tuple[set[tuple[str, str]], set[str]]:
    sources = doc.get("sources") or (doc.get("project") or {}).get("sources") or []
    return ({(s.get("partner"), s.get("record_id")) for s in sources if s.get("record_id")},
            {s.get("url") for s in sources if s.get("url")})


def _partners(doc: dict[str, Any]) -> set[str]:
    sources = doc.get("sources") or (doc.get("project") or {}).get("sources") or []
    return set(doc.get("source") or []) | {s.get("partner") for s in sources if s.get("partner")}


def elsewhere_of(doc: dict[str, Any], other: dict[str, Any]) -> bool:
    """``other`` is in another territory: not the same département, and (both located) farther
    than the nearby radius; a project abroad is elsewhere from any French one."""
    if doc.get("departement") and doc.get("departement") == other.get("departement"):
        return False
    if None not in (doc.get("lat"), doc.get("lon"), other.get("lat"), other.get("lon")):
        return _km(doc["lat"], doc["lon"], other["lat"], other["lon"]) > SIMILAR_RADIUS_KM
    if not doc.get("departement") and not other.get("departement"):
        return (doc.get("country"), doc.get("locality")) != (other.get("country"), other.get("locality"))
    return True


def pick_elsewhere(doc: dict[str, Any], candidates: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """From candidates ordered most similar first: at most ``limit``, one per partner, never the
    project nor a record of its cluster (a shared source record or page), only other territories.
    The hits leave without their ``sources`` and ``project``."""
    records, urls = _records(doc)
    taken: set[str] = set()
    seen: set[str] = {doc.get("id")}
    out = []
    for c in candidates:
        if len(out) >= limit:
            break
        if c.get("id") in seen:
            continue
        seen.add(c.get("id"))
        c_records, c_urls = _records(c)
        if c_records & records or c_urls & urls or (c.get("url") and c.get("url") in urls):
            continue
        partners = _partners(c)
        if not partners or partners & taken or not elsewhere_of(doc, c):
            continue
        taken |= partners
        out.append({k: v for k, v in c.items() if k not in ("sources", "project", "score")})
    return out


# --------------------------------------------------------------------------- PostgreSQL


class PostgresElsewhere:
    """Mixed into ``PostgresSearch`` (uses its ``_read``)."""

    async def elsewhere(self, doc: dict[str, Any], limit: int = ELSEWHERE) -> list[dict[str, Any]]:
        words, themes = significant_words(doc), list(doc.get("theme") or [])
        if not words and not themes:
            return []
        params: dict[str, Any] = {"id": doc["id"], "themes": themes, "pool": limit * POOL_PER_RESULT,
                                  "tsq": " | ".join(words) or "", "dep": doc.get("departement")}
        match = ["theme && CAST(:themes AS text[])"] if themes else []
        rank = "0"
        if words:
            match.append("tsv @@ to_tsquery('french', :tsq)")
            rank = "ts_rank(tsv, to_tsquery('french', :tsq), 32)"
        overlap = ("coalesce(cardinality(ARRAY(SELECT unnest(theme) INTERSECT SELECT unnest(CAST(:themes AS text[]))))"
                   "::float8 / nullif(cardinality(ARRAY(SELECT unnest(theme) UNION SELECT unnest(CAST(:themes AS "
                   "text[])))), 0), 0)")
        where = ["NOT deleted", "id <> :id", f"({' OR '.join(match)})"]
        if doc.get("departement"):
            where.append("departement IS DISTINCT FROM :dep")
        async with self._read() as conn:
            rows = (await conn.execute(text(
                "SELECT doc - 'project' || jsonb_build_object('sources', doc->'project'->'sources') AS doc, "
                f"{overlap} + {rank} AS score FROM search_documents WHERE {' AND '.join(where)} "
                "ORDER BY score DESC, first_seen DESC, id LIMIT :pool"), params)).all()
        candidates = [r.doc if isinstance(r.doc, dict) else orjson.loads(r.doc) for r in rows]
        return pick_elsewhere(doc, candidates, limit)


# --------------------------------------------------------------------------- Meilisearch


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MeiliElsewhere:
    """Mixed into ``MeiliSearch`` (uses its client and index): written against Meilisearch's documented
    multi-search API (``matchingStrategy: frequency``, ``showRankingScore``, ``NOT _geoRadius``);
    exercised by the conformance suite where a server runs."""

    async def elsewhere(self, doc: dict[str, Any], limit: int = ELSEWHERE) -> list[dict[str, Any]]:
        from services.gateway.search.meili import HIT_FIELDS, _num

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
        from meilisearch.errors import MeilisearchApiError

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
