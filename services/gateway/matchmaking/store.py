"""Matchmaking SQL (PostgreSQL). Every function takes a connection inside the caller's transaction.

Search: French full-text on folded text (title weighted above the body: description, skill
labels, place names), the last word as a prefix; a word the index does not know (a typo) is
matched by trigram word similarity on the title and skills (``words_folded``); filters OR within a
facet and AND across facets, facet counts disjunctive (each counted with every filter but its own),
as the project search does; radius (bounding box + haversine) and bbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.contracts.geo import haversine_sql
from services.gateway.matchmaking.matching import FACETS, MULTI_FACETS, PostQuery
from services.gateway.search.text_query import word_conditions

HAVERSINE = haversine_sql()
COLUMN = {"kind": "kind", "skill": "skills", "contract_type": "contract_type", "remote": "remote", "theme": "themes",
          "region": "region", "departement": "departement", "commune": "commune"}
LABELS = {"region": "region_name", "departement": "departement_name", "commune": "commune_name"}
PUBLIC = ("id, kind, author_id, project_id, project_title, title, description, skills, themes, remote, contract_type, "
          "hours, pay_min, pay_max, pay_period, start_date, deadline, availability, commune, commune_name, postcode, "
          "departement, departement_name, region, region_name, lat, lon, status, closed_reason, closed_at, hidden, "
          "hidden_reason, report_count, created_at, updated_at, expires_at")
WRITABLE = ("kind", "author_id", "project_id", "project_title", "title", "description", "skills", "themes", "remote",
            "contract_type", "hours", "pay_min", "pay_max", "pay_period", "start_date", "deadline", "availability",
            "commune", "commune_name", "postcode", "departement", "departement_name", "region", "region_name", "lat",
            "lon", "expires_at", "title_folded", "body_folded", "words_folded")
FACET_LIMIT = 100


def _row(row) -> dict[str, Any]:
    return dict(row._mapping)


async def insert_post(conn: AsyncConnection, post_id: str, values: dict[str, Any]) -> dict[str, Any]:
    cols = [c for c in WRITABLE if c in values]
    row = (await conn.execute(text(
        f"INSERT INTO mm_posts (id, {', '.join(cols)}) VALUES (:id, {', '.join(':' + c for c in cols)}) "
        f"RETURNING {PUBLIC}"), {"id": post_id, **{c: values[c] for c in cols}})).one()
    return _row(row)


async def update_post(conn: AsyncConnection, post_id: str, values: dict[str, Any]) -> dict[str, Any] | None:
    cols = [c for c in WRITABLE if c in values and c not in ("kind", "author_id")]
    row = (await conn.execute(text(
        f"UPDATE mm_posts SET {', '.join(f'{c} = :{c}' for c in cols)}, updated_at = now() "
        f"WHERE id = :id RETURNING {PUBLIC}"), {"id": post_id, **{c: values[c] for c in cols}})).first()
    return _row(row) if row else None


async def get_post(conn: AsyncConnection, post_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = (await conn.execute(text(f"SELECT {PUBLIC} FROM mm_posts WHERE id = :id"
                                   + (" FOR UPDATE" if for_update else "")), {"id": post_id})).first()
    return _row(row) if row else None


async def close_post(conn: AsyncConnection, post_id: str, reason: str) -> dict[str, Any] | None:
    """Close an open post; None when it was already closed (nothing changes)."""
    row = (await conn.execute(text(
        "UPDATE mm_posts SET status = 'closed', closed_reason = :reason, closed_at = now(), updated_at = now() "
        f"WHERE id = :id AND status = 'open' RETURNING {PUBLIC}"), {"id": post_id, "reason": reason})).first()
    return _row(row) if row else None


async def set_hidden(conn: AsyncConnection, post_id: str, hidden: bool, reason: str | None) -> dict[str, Any] | None:
    """Hide or unhide; None when it already was (nothing changes). Unhiding resolves the open reports."""
    row = (await conn.execute(text(
        "UPDATE mm_posts SET hidden = :hidden, hidden_reason = :reason, updated_at = now() "
        f"WHERE id = :id AND hidden <> :hidden RETURNING {PUBLIC}"),
        {"id": post_id, "hidden": hidden, "reason": reason if hidden else None})).first()
    if row is not None:
        await conn.execute(text("UPDATE mm_reports SET resolved_at = now() WHERE post_id = :id AND resolved_at IS NULL"),
                           {"id": post_id})
    return _row(row) if row else None


async def expire_due(conn: AsyncConnection, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Close the open posts whose time has come (deadline passed or lifetime over). Safe with several
    gateways at once: rows locked by another are skipped, and a closed post is never closed twice."""
    rows = (await conn.execute(text(
        "UPDATE mm_posts p SET status = 'closed', closed_at = :now, updated_at = :now, "
        "closed_reason = CASE WHEN p.deadline IS NOT NULL THEN 'deadline' ELSE 'expired' END "
        "FROM (SELECT id FROM mm_posts WHERE status = 'open' AND expires_at <= :now ORDER BY expires_at "
        "      LIMIT :limit FOR UPDATE SKIP LOCKED) due "
        f"WHERE p.id = due.id RETURNING {', '.join('p.' + c.strip() for c in PUBLIC.split(','))}"),
        {"now": now, "limit": limit})).all()
    return [_row(r) for r in rows]


async def count_recent_reports(conn: AsyncConnection, reporter_key: str, since: datetime) -> int:
    return (await conn.execute(text(
        "SELECT count(*) FROM mm_reports WHERE reporter_key = :k AND created_at >= :since"),
        {"k": reporter_key, "since": since})).scalar_one()


async def already_reported(conn: AsyncConnection, post_id: str, reporter_key: str) -> bool:
    return bool((await conn.execute(text(
        "SELECT 1 FROM mm_reports WHERE post_id = :p AND reporter_key = :k AND resolved_at IS NULL"),
        {"p": post_id, "k": reporter_key})).first())


async def add_report(conn: AsyncConnection, post_id: str, reporter_id: int | None, reporter_key: str, reason: str,
                     details: str | None) -> int:
    await conn.execute(text(
        "INSERT INTO mm_reports (post_id, reporter_id, reporter_key, reason, details) "
        "VALUES (:p, :uid, :k, :reason, :details)"),
        {"p": post_id, "uid": reporter_id, "k": reporter_key, "reason": reason, "details": details})
    return (await conn.execute(text(
        "UPDATE mm_posts SET report_count = report_count + 1 WHERE id = :p RETURNING report_count"),
        {"p": post_id})).scalar_one()


async def moderation_queue(conn: AsyncConnection, limit: int = 200) -> list[dict[str, Any]]:
    """Posts with unresolved reports, and hidden posts; the most reported first."""
    rows = (await conn.execute(text(
        f"SELECT {PUBLIC}, (SELECT count(*) FROM mm_reports r WHERE r.post_id = p.id AND r.resolved_at IS NULL) "
        "AS open_reports, (SELECT coalesce(json_agg(json_build_object('reason', r.reason, 'details', r.details, "
        "'at', r.created_at) ORDER BY r.created_at DESC), '[]') FROM mm_reports r WHERE r.post_id = p.id AND "
        "r.resolved_at IS NULL) AS reports "
        "FROM mm_posts p WHERE hidden OR EXISTS (SELECT 1 FROM mm_reports r WHERE r.post_id = p.id AND "
        "r.resolved_at IS NULL) ORDER BY open_reports DESC, updated_at DESC LIMIT :limit"),
        {"limit": limit})).all()
    return [_row(r) for r in rows]


async def posts_of_author(conn: AsyncConnection, author_id: int) -> list[dict[str, Any]]:
    rows = (await conn.execute(text(
        f"SELECT {PUBLIC} FROM mm_posts WHERE author_id = :a ORDER BY created_at DESC LIMIT 200"),
        {"a": author_id})).all()
    return [_row(r) for r in rows]


async def candidates(conn: AsyncConnection, post: dict[str, Any], kinds: tuple[str, ...], radius_km: float,
                     limit: int = 300) -> list[dict[str, Any]]:
    """Open, visible posts of ``kinds`` sharing a skill or a theme with ``post`` (the scoring is pure)."""
    rows = (await conn.execute(text(
        f"SELECT {PUBLIC} FROM mm_posts WHERE status = 'open' AND NOT hidden AND kind = ANY(:kinds) AND id <> :id "
        "AND (skills && CAST(:skills AS text[]) OR themes && CAST(:themes AS text[])) "
        "ORDER BY created_at DESC LIMIT :limit"),
        {"kinds": list(kinds), "id": post["id"], "skills": list(post.get("skills") or []),
         "themes": list(post.get("themes") or []), "limit": limit})).all()
    return [_row(r) for r in rows]


# --------------------------------------------------------------------------- search


def _conditions(query: PostQuery, params: dict[str, Any], indexed: list[bool]) -> list[str]:
    where = ["NOT hidden"]
    if not query.include_closed:
        where.append("status = 'open'")
    if query.project_id:
        params["project"] = query.project_id
        where.append("project_id = :project")
    where += word_conditions(list(query.tokens), params, "words_folded", indexed)
    if query.geo is not None:
        params.update(glat=query.geo.lat, glon=query.geo.lon)
        if query.geo.radius_km is not None:
            la1, la2, lo1, lo2 = query.geo.bounds()
            params.update(gla1=la1, gla2=la2, glo1=lo1, glo2=lo2, gr=query.geo.radius_km)
            where.append(f"lat BETWEEN :gla1 AND :gla2 AND lon BETWEEN :glo1 AND :glo2 AND {HAVERSINE} <= :gr")
    if query.bbox is not None:
        b = query.bbox
        params.update(bw=b.min_lon, bs=b.min_lat, be=b.max_lon, bn=b.max_lat)
        where.append("lat BETWEEN :bs AND :bn AND lon BETWEEN :bw AND :be")
    return where


def _facet_clause(facet: str) -> str:
    col = COLUMN[facet]
    if facet in MULTI_FACETS:
        return f"{col} && CAST(:f_{facet} AS text[])"
    return f"{col} = ANY(CAST(:f_{facet} AS text[]))"


async def _indexed(conn: AsyncConnection, tokens: list[str]) -> list[bool]:
    """For each query word: does some post's text contain it (the last one as a prefix)? An unknown
    word is a typo, matched by trigram similarity instead."""
    if not tokens:
        return []
    terms = [t + (":*" if i == len(tokens) - 1 else "") for i, t in enumerate(tokens)]
    params = {f"t{i}": t for i, t in enumerate(terms)}
    checks = ", ".join(f"EXISTS (SELECT 1 FROM mm_posts WHERE tsv @@ to_tsquery('french', :t{i}))"
                       for i in range(len(terms)))
    return list((await conn.execute(text(f"SELECT ARRAY[{checks}]"), params)).scalar_one())


def _order(query: PostQuery, typo: bool) -> str:
    rank = "ts_rank_cd(tsv, to_tsquery('french', :tsq))" + (" + word_similarity(:qf, words_folded)" if typo else "")
    return {
        "relevance": f"{rank} DESC, created_at DESC, id" if query.tokens else "created_at DESC, id",
        "newest": "created_at DESC, id",
        "nearest": f"{HAVERSINE} ASC NULLS LAST, id",
        "deadline": "deadline ASC NULLS LAST, created_at DESC, id",
    }[query.sort]


async def search(conn: AsyncConnection, query: PostQuery) -> dict[str, Any]:
    """{total, hits, facets}: hits are posts (with ``distance_km`` when a point is given); facets are
    {facet: [[value, label, count], ...]} counted disjunctively."""
    params: dict[str, Any] = {f"f_{k}": list(v) for k, v in query.filters.items()}
    indexed = await _indexed(conn, list(query.tokens))
    where = _conditions(query, params, indexed)
    flags = {f: f"m_{f}" for f in query.filters}
    columns = ["id", *(COLUMN[f] for f in FACETS), *LABELS.values(),
               *(f"({_facet_clause(f)}) AS {flag}" for f, flag in flags.items())]

    def matching(without: str | None = None) -> str:
        conds = [flag for f, flag in flags.items() if f != without]
        return " AND ".join(conds) if conds else "true"

    distance = f"round(({HAVERSINE})::numeric, 1)::float8" if query.geo is not None else "NULL::float8"
    order = _order(query, not all(indexed))
    parts = [
        f"'total', (SELECT count(*) FROM m WHERE {matching()})",
        "'hits', (SELECT coalesce(json_agg(row_to_json(page) ORDER BY page.rn), '[]') FROM ("
        f"SELECT {PUBLIC}, {distance} AS distance_km, row_number() OVER (ORDER BY {order}) AS rn "
        f"FROM mm_posts WHERE id IN (SELECT id FROM m WHERE {matching()}) ORDER BY {order} "
        "LIMIT :limit OFFSET :offset) page)",
    ]
    for facet in FACETS:
        col = COLUMN[facet]
        value = f"unnest({col})" if facet in MULTI_FACETS else col
        label = LABELS.get(facet)
        parts.append(
            f"'{facet}', (SELECT coalesce(json_agg(json_build_array(v, l, n) ORDER BY n DESC, v), '[]') FROM ("
            f"SELECT v, max(l) AS l, count(*) AS n FROM (SELECT {value} AS v, {label or 'NULL::text'} AS l FROM m "
            f"WHERE {matching(facet)}) x WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT {FACET_LIMIT}) f)")
    params.update(limit=query.per_page, offset=query.offset)
    sql = (f"WITH m AS MATERIALIZED (SELECT {', '.join(columns)} FROM mm_posts WHERE {' AND '.join(where)}) "
           f"SELECT json_build_object({', '.join(parts)})")
    out = (await conn.execute(text(sql), params)).scalar_one()
    if isinstance(out, str):
        import orjson

        out = orjson.loads(out)
    facets = {f: out.pop(f) for f in FACETS}
    for hit in out["hits"]:
        hit.pop("rn", None)
    return {"total": out["total"], "hits": out["hits"], "facets": facets}


async def geo_points(conn: AsyncConnection, query: PostQuery, limit: int = 2000) -> list[dict[str, Any]]:
    """Posts with coordinates for the map (every filter applies), the newest first."""
    params: dict[str, Any] = {f"f_{k}": list(v) for k, v in query.filters.items()}
    where = _conditions(query, params, await _indexed(conn, list(query.tokens)))
    where += ["lat IS NOT NULL"] + [_facet_clause(f) for f in query.filters]
    params["limit"] = limit
    rows = (await conn.execute(text(
        "SELECT id, kind, title, commune_name, project_id, project_title, lat, lon, deadline, status FROM mm_posts "
        f"WHERE {' AND '.join(where)} ORDER BY created_at DESC, id LIMIT :limit"), params)).all()
    return [_row(r) for r in rows]
