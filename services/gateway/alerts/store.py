"""SQL of saved searches and their pending matches (tables ``alert_searches``, ``alert_matches``)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

COLUMNS = ("id, user_id, name, params, frequency, gate, nonce, active, created_at, last_sent_at, unsubscribed_at")


def _row(row) -> dict[str, Any]:
    out = dict(row._mapping)
    if isinstance(out.get("params"), (str, bytes)):
        out["params"] = orjson.loads(out["params"])
    out["params"] = [tuple(p) for p in out["params"]]
    return out


async def count_of_user(conn: AsyncConnection, user_id: int, *, lock: bool = False) -> int:
    if lock:  # serialises concurrent creations by the same account (the limit holds)
        await conn.execute(text("SELECT 1 FROM users WHERE id = :u FOR UPDATE"), {"u": user_id})
    return (await conn.execute(text("SELECT count(*) FROM alert_searches WHERE user_id = :u AND active"),
                               {"u": user_id})).scalar_one()


async def insert(conn: AsyncConnection, user_id: int, name: str, pairs: list[tuple[str, str]], frequency: str,
                 gates: list[list[str]], nonce: str) -> dict[str, Any]:
    gate, gate2 = (list(gates) + [[], []])[:2]
    row = (await conn.execute(text(
        "INSERT INTO alert_searches (user_id, name, params, frequency, gate, gate2, nonce) "
        f"VALUES (:u, :n, CAST(:p AS jsonb), :f, :g, :g2, :x) RETURNING {COLUMNS}"),
        {"u": user_id, "n": name, "p": orjson.dumps([list(p) for p in pairs]).decode(), "f": frequency,
         "g": gate, "g2": gate2, "x": nonce})).first()
    return _row(row)


async def of_user(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    rows = (await conn.execute(text(
        f"SELECT {COLUMNS}, (SELECT count(*) FROM alert_matches m WHERE m.search_id = s.id AND m.sent_at IS NULL) "
        "AS pending FROM alert_searches s WHERE user_id = :u AND active ORDER BY created_at, id"),
        {"u": user_id})).all()
    return [_row(r) for r in rows]


async def get(conn: AsyncConnection, search_id: int, *, for_update: bool = False) -> dict[str, Any] | None:
    row = (await conn.execute(text(f"SELECT {COLUMNS} FROM alert_searches WHERE id = :i"
                                   + (" FOR UPDATE" if for_update else "")), {"i": search_id})).first()
    return _row(row) if row else None


async def deactivate(conn: AsyncConnection, search_id: int) -> None:
    """Unsubscribed or deleted: no more matches recorded nor mailed; the pending ones are dropped."""
    await conn.execute(text("UPDATE alert_searches SET active = false, unsubscribed_at = coalesce(unsubscribed_at, "
                            "now()) WHERE id = :i"), {"i": search_id})
    await conn.execute(text("DELETE FROM alert_matches WHERE search_id = :i AND sent_at IS NULL"), {"i": search_id})


async def candidates(conn: AsyncConnection, keys: list[str]) -> list[dict[str, Any]]:
    """Active searches that may match an item carrying ``keys``: those whose first gate meets them
    (GIN index) and whose second gate, if any, too; and those with no gate."""
    rows = (await conn.execute(text(
        f"SELECT {COLUMNS} FROM alert_searches WHERE active AND gate && CAST(:k AS text[]) "
        "AND (gate2 = '{}' OR gate2 && CAST(:k AS text[])) "
        f"UNION ALL SELECT {COLUMNS} FROM alert_searches WHERE active AND gate = '{{}}'"), {"k": keys})).all()
    return [_row(r) for r in rows]


async def record(conn: AsyncConnection, kind: str, item_id: str, version: int, title: str, place: str | None,
                 changes: dict[int, str]) -> int:
    """The item matched these searches (search id → 'new' | 'changed'): one pending row each, kept
    up to date; a replay (same or older version) changes nothing; an item already mailed comes
    back as 'changed'. Pending rows of searches it no longer matches are dropped. Returns the rows
    written."""
    written = 0
    if changes:
        ids, kinds = list(changes), [changes[i] for i in changes]
        written = (await conn.execute(text(
            "INSERT INTO alert_matches (search_id, item_kind, item_id, version, change, title, place) "
            "SELECT s, :k, :i, :v, c, :t, :p FROM unnest(CAST(:ids AS bigint[]), CAST(:cs AS text[])) AS u(s, c) "
            "ON CONFLICT (search_id, item_kind, item_id) DO UPDATE SET version = excluded.version, "
            "title = excluded.title, place = excluded.place, matched_at = now(), "
            "change = CASE WHEN alert_matches.sent_at IS NULL THEN alert_matches.change ELSE 'changed' END, "
            "sent_at = NULL WHERE alert_matches.version < excluded.version"),
            {"k": kind, "i": item_id, "v": version, "t": title[:300], "p": (place or "")[:200] or None,
             "ids": ids, "cs": kinds})).rowcount
    await conn.execute(text(
        "DELETE FROM alert_matches WHERE item_kind = :k AND item_id = :i AND sent_at IS NULL "
        "AND NOT (search_id = ANY(CAST(:ids AS bigint[])))"),
        {"k": kind, "i": item_id, "ids": list(changes)})
    return written


async def forget(conn: AsyncConnection, kind: str, item_id: str) -> int:
    """The item is gone (deleted project, closed or hidden post): its pending rows go too."""
    return (await conn.execute(text(
        "DELETE FROM alert_matches WHERE item_kind = :k AND item_id = :i AND sent_at IS NULL"),
        {"k": kind, "i": item_id})).rowcount


async def due(conn: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """Active searches with pending matches whose period has passed since their last digest, locked
    (another gateway skips them)."""
    rows = (await conn.execute(text(
        f"SELECT {', '.join('s.' + c.strip() for c in COLUMNS.split(','))}, u.email FROM alert_searches s "
        "JOIN users u ON u.id = s.user_id WHERE s.active AND u.disabled_at IS NULL AND u.email_verified "
        "AND EXISTS (SELECT 1 FROM alert_matches m WHERE m.search_id = s.id AND m.sent_at IS NULL) "
        "AND (s.last_sent_at IS NULL OR s.last_sent_at <= now() - CASE s.frequency WHEN 'weekly' "
        "THEN interval '7 days' ELSE interval '1 day' END) "
        "ORDER BY s.id LIMIT :n FOR UPDATE OF s SKIP LOCKED"), {"n": limit})).all()
    return [_row(r) for r in rows]


async def pending(conn: AsyncConnection, search_id: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` pending matches of a search, and how many there are in all."""
    rows = (await conn.execute(text(
        "SELECT item_kind, item_id, change, title, place, count(*) OVER () AS total FROM alert_matches "
        "WHERE search_id = :s AND sent_at IS NULL ORDER BY matched_at DESC, item_kind, item_id LIMIT :n"),
        {"s": search_id, "n": limit})).mappings().all()
    return [dict(r) for r in rows], (rows[0]["total"] if rows else 0)


async def mark_sent(conn: AsyncConnection, search_id: int) -> None:
    await conn.execute(text("UPDATE alert_matches SET sent_at = now() WHERE search_id = :s AND sent_at IS NULL"),
                       {"s": search_id})
    await conn.execute(text("UPDATE alert_searches SET last_sent_at = now() WHERE id = :s"), {"s": search_id})
