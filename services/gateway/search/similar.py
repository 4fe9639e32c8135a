"""Projects like this one, elsewhere: the projects of other territories most similar to a project
(its words and its themes), at most one per partner, never the project itself nor a record of its
own cluster — so that one territory's innovation inspires the others.

- pure rules: the project's significant words (folded, French stop words left out, title words
  first), the theme overlap (Jaccard), and :func:`pick_elsewhere`, which walks the candidates from
  the most similar and keeps one per partner, skipping the project, anything sharing one of its
  source records or pages (a duplicate the deduplication did not merge), and anything in the same
  département or within the "nearby" radius (those are on the page already);
- one method per backend (``elsewhere(doc, limit)``): PostgreSQL's here, mixed into its reader, reads two
  bounded pools through its GIN indexes — the best text matches on the project's distinctive words
  (those in at most 2 % of the projects: inverse document frequency) and the newest projects sharing
  all its themes — and scores them by theme overlap + text rank; Meilisearch's (in ``meili.py``) asks two searches in one multi-search (the words, with its ``frequency``
  matching strategy that drops the commonest words first; the themes) and merges them by its
  ranking score + theme overlap. Both then apply the same :func:`pick_elsewhere`.
"""

from __future__ import annotations

import csv
import time
from typing import Any

import orjson
from sqlalchemy import text

from libs.contracts.geo import haversine_km
from libs.contracts.search import fold, stop_words
from services.gateway.search.port import SIMILAR_RADIUS_KM

ELSEWHERE = 4
"""Projects shown under « Ailleurs, des projets semblables »."""
MAX_WORDS = 12
MIN_WORD = 3
POOL_PER_RESULT = 15
"""Candidates read per result wanted: room for the partners and territories skipped."""
RARE_SHARE = 0.02
"""A word in more than this share of the projects is too common to compare on."""
STATS_TTL_S = 600.0
"""How long the index's word statistics are reused (they change at each ANALYZE)."""
RARE_WORDS = 6
POOL = 120
"""Candidates read by each way in (words; all the themes; any theme)."""


def significant_words(doc: dict[str, Any], limit: int = MAX_WORDS) -> list[str]:
    """Folded words of the title, then of the summary (the description when there is none): no stop
    words, no short words, no digits only, each once."""
    body = doc.get("summary") or (doc.get("description") or "")[:600]
    words = []
    for source in (doc.get("title") or "", body):
        for w in fold(source).split():
            if len(w) >= MIN_WORD and w not in stop_words() and not w.isdigit() and w not in words:
                words.append(w)
    return words[:limit]


def theme_overlap(a: list[str] | None, b: list[str] | None) -> float:
    a, b = set(a or []), set(b or [])
    return len(a & b) / len(a | b) if a and b else 0.0




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
        return haversine_km(doc["lat"], doc["lon"], other["lat"], other["lon"]) > SIMILAR_RADIUS_KM
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


def distinctive(words: list[str], shares: list[float], keep: int = RARE_WORDS) -> list[str]:
    """The words worth comparing on: those in at most :data:`RARE_SHARE` of the projects (the
    rarest first, at most ``keep``); when every word is common, the two rarest. Inverse document
    frequency, in short: « projet » or « habitants » say nothing of what a project is."""
    ranked = sorted(zip(shares, range(len(words)), words))
    rare = [w for share, _, w in ranked if share <= RARE_SHARE]
    return (rare or [w for _, _, w in ranked[:2]])[:keep]


def _pg_array(body: str) -> list[str]:
    """The elements of a PostgreSQL text array's body (``a,"b c",d``)."""
    return next(csv.reader([body], escapechar="\\")) if body else []


def score(doc: dict[str, Any], candidate: dict[str, Any], rank: float) -> float:
    """Theme overlap plus the text rank normalised to [0, 1) (``rank / (rank + 1)``)."""
    return theme_overlap(doc.get("theme"), candidate.get("theme")) + rank / (rank + 1)


class PostgresElsewhere:
    """Mixed into ``PostgresSearch`` (uses its ``_read``). A few short statements, each bounded by a
    GIN index and a LIMIT, never a scan of the index: how common each word is (counted up to the
    rare share only), the best text matches on the distinctive words, the newest projects sharing
    all the project's themes, and those sharing one; the pools are then scored and picked here."""

    _shares: tuple[float, dict[str, float]] = (0.0, {})

    async def _lexeme_shares(self, conn) -> dict[str, float]:
        """Share of the projects holding each of the index's most common words (French lexemes),
        from PostgreSQL's own statistics of the ``tsv`` column (gathered by ANALYZE): no scan. A word
        not listed is rare; an index never analysed has none, and every word counts."""
        at, shares = self._shares
        if time.monotonic() - at > STATS_TTL_S:
            row = (await conn.execute(text(
                "SELECT most_common_elems::text AS e, most_common_elem_freqs AS f FROM pg_stats "
                "WHERE tablename = 'search_documents' AND attname = 'tsv'"))).first()
            shares = {}
            if row is not None and row.e:
                lexemes = row.e.strip("{}")
                for lexeme, share in zip(_pg_array(lexemes), row.f or []):
                    shares[lexeme] = float(share)
            self._shares = (time.monotonic(), shares)
        return shares

    async def elsewhere(self, doc: dict[str, Any], limit: int = ELSEWHERE) -> list[dict[str, Any]]:
        words, themes = significant_words(doc), list(doc.get("theme") or [])
        if not words and not themes:
            return []
        pool = max(POOL, limit * POOL_PER_RESULT)
        params: dict[str, Any] = {"id": doc["id"], "themes": themes, "pool": pool, "dep": doc.get("departement")}
        territory = "NOT deleted AND id <> :id" + (" AND departement IS DISTINCT FROM :dep"
                                                    if doc.get("departement") else "")
        columns = "s.doc - 'project' || jsonb_build_object('sources', s.doc->'project'->'sources') AS doc"
        found: dict[str, tuple[dict[str, Any], float]] = {}
        async with self._read() as conn:
            if words:
                shares = await self._lexeme_shares(conn)
                lexemes = (await conn.execute(text(
                    "SELECT json_agg(tsvector_to_array(to_tsvector('french', w)) ORDER BY n)::text "
                    "FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS u(w, n)"), {"words": words})).scalar()
                frequencies = [max((shares.get(x, 0.0) for x in lex), default=0.0) for lex in orjson.loads(lexemes)]
                params["tsq"] = " | ".join(distinctive(words, frequencies))
                for r in (await conn.execute(text(  # documents built for the pool only, not for every match
                        f"SELECT {columns}, p.r FROM (SELECT id, ts_rank(tsv, to_tsquery('french', :tsq)) AS r "
                        f"FROM search_documents WHERE tsv @@ to_tsquery('french', :tsq) AND {territory} "
                        "ORDER BY r DESC, id LIMIT :pool) p JOIN search_documents s USING (id) ORDER BY p.r DESC, id"),
                        params)).all():
                    hit = r.doc if isinstance(r.doc, dict) else orjson.loads(r.doc)
                    found[hit["id"]] = (hit, r.r)
            # the newest sharing all the themes, then the newest sharing one: overlap is scored below
            for condition in (["theme @> CAST(:themes AS text[])"] if themes else []) + (
                    ["theme && CAST(:themes AS text[])"] if len(themes) > 1 else []):
                for r in (await conn.execute(text(
                        f"SELECT {columns} FROM (SELECT id, first_seen FROM search_documents WHERE {condition} "
                        f"AND {territory} ORDER BY first_seen DESC, id LIMIT :pool) p JOIN search_documents s "
                        "USING (id) ORDER BY p.first_seen DESC, id"), params)).all():
                    hit = r.doc if isinstance(r.doc, dict) else orjson.loads(r.doc)
                    found.setdefault(hit["id"], (hit, 0.0))
        ranked = sorted(found.values(), key=lambda hr: (-score(doc, hr[0], hr[1]), hr[0]["id"]))
        return pick_elsewhere(doc, [h for h, _ in ranked], limit)
