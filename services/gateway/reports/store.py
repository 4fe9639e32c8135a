"""SQL of the reports (tables ``reports`` and ``project_flags``, migration 0021)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.gateway.reports.rules import LIMITS

_COLUMNS = ("id, project_id, project_title, kind, duplicate_of, detail, reporter_email, status, decided_by, "
            "decided_at, note, created_at")


async def lock_and_count(conn: AsyncConnection, ip_hash: str) -> dict[tuple[str, int], int]:
    """Serialise the reports of one connection (any replica), then count them in each window."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 11))"), {"k": f"report:{ip_hash}"})
    counts = {}
    for limit in LIMITS:
        counts[(limit.bucket, limit.window_s)] = (await conn.execute(text(
            "SELECT count(*) FROM reports WHERE ip_hash = :k AND created_at > now() - make_interval(secs => :w)"),
            {"k": ip_hash, "w": limit.window_s})).scalar_one()
    return counts


async def add(conn: AsyncConnection, **row: Any) -> int:
    return (await conn.execute(text(
        "INSERT INTO reports (project_id, project_title, kind, duplicate_of, detail, reporter_email, reporter_user_id, "
        "ip_hash) VALUES (:project_id, :project_title, :kind, :duplicate_of, :detail, :reporter_email, "
        ":reporter_user_id, :ip_hash) RETURNING id"), row)).scalar_one()


async def pending(conn: AsyncConnection, limit: int, offset: int) -> list[dict[str, Any]]:
    rows = await conn.execute(text(
        f"SELECT {_COLUMNS} FROM reports WHERE status = 'open' ORDER BY created_at, id LIMIT :n OFFSET :o"),
        {"n": limit, "o": offset})
    return [dict(r) for r in rows.mappings()]


async def count_open(conn: AsyncConnection) -> int:
    return (await conn.execute(text("SELECT count(*) FROM reports WHERE status = 'open'"))).scalar_one()


async def get(conn: AsyncConnection, report_id: int, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    row = (await conn.execute(text(f"SELECT {_COLUMNS} FROM reports WHERE id = :i{lock}"),
                              {"i": report_id})).mappings().first()
    return dict(row) if row else None


async def decide(conn: AsyncConnection, report_id: int, status: str, moderator: str, note: str | None) -> None:
    await conn.execute(text(
        "UPDATE reports SET status = :s, decided_by = :m, decided_at = now(), note = :n WHERE id = :i"),
        {"s": status, "m": moderator, "n": note, "i": report_id})


async def set_closed(conn: AsyncConnection, project_id: str, closed: bool, report_id: int | None) -> None:
    await conn.execute(text(
        "INSERT INTO project_flags (project_id, closed, report_id) VALUES (:p, :c, :r) "
        "ON CONFLICT (project_id) DO UPDATE SET closed = EXCLUDED.closed, report_id = EXCLUDED.report_id, "
        "updated_at = now()"), {"p": project_id, "c": closed, "r": report_id})


async def closed_among(conn: AsyncConnection, ids: list[str]) -> dict[str, Any]:
    """Of these projects, the ones flagged closed: id → since when."""
    if not ids:
        return {}
    rows = await conn.execute(text(
        "SELECT project_id, updated_at FROM project_flags WHERE closed AND project_id = ANY(:ids)"), {"ids": ids})
    return {r[0]: r[1] for r in rows}
