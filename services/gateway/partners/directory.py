"""The gateway's partner directory: its copy of the crawler's partners and runs (``crawl.partners.v1``),
and the registry of every partner's display name and licence (crawled partners from the directory,
pushing partners from their organisation) used for attribution on pages and exports."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.contracts.partner_events import PartnerStatusChanged

KEEP_RUNS = 100
"""Runs kept per partner (the pages show the last 20)."""


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def apply(conn: AsyncConnection, event: PartnerStatusChanged) -> str:
    """Store one status event. Idempotent; an event older than the stored partner changes nothing of it
    (a redelivery or a late event never rolls the directory back), its run is still kept."""
    p = event.partner
    changed = (await conn.execute(text(
        """
        INSERT INTO partner_directory (slug, name, base_url, connector, licence, attribution, enabled, guessed,
                                       schedule_s, records, updated_at)
        VALUES (:slug, :name, :base_url, :connector, :licence, :attribution, :enabled, :guessed, :schedule_s,
                :records, :at)
        ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, base_url = EXCLUDED.base_url,
            connector = EXCLUDED.connector, licence = EXCLUDED.licence, attribution = EXCLUDED.attribution,
            enabled = EXCLUDED.enabled, guessed = EXCLUDED.guessed, schedule_s = EXCLUDED.schedule_s,
            records = coalesce(EXCLUDED.records, partner_directory.records), updated_at = EXCLUDED.updated_at
        WHERE partner_directory.updated_at <= EXCLUDED.updated_at
        RETURNING 1
        """), {**p.model_dump(), "records": event.records, "at": event.occurred_at})).first()
    if event.run is not None:
        r = event.run
        await conn.execute(text(
            """
            INSERT INTO partner_runs (partner, run_id, status, complete, started_at, finished_at, counts,
                                      error_samples, by_rule, first_reasons)
            VALUES (:p, :id, :status, :complete, :started, :finished, CAST(:counts AS jsonb),
                    CAST(:samples AS jsonb), CAST(:by_rule AS jsonb), CAST(:reasons AS jsonb))
            ON CONFLICT (partner, run_id) DO UPDATE SET status = EXCLUDED.status, complete = EXCLUDED.complete,
                started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, counts = EXCLUDED.counts,
                error_samples = EXCLUDED.error_samples, by_rule = EXCLUDED.by_rule,
                first_reasons = EXCLUDED.first_reasons
            """), {"p": p.slug, "id": r.run_id, "status": r.status, "complete": r.complete,
                   "started": r.started_at, "finished": r.finished_at, "counts": _json(r.counts),
                   "samples": _json(r.error_samples), "by_rule": _json(r.by_rule),
                   "reasons": _json(r.first_reasons)})
        await conn.execute(text(
            "DELETE FROM partner_runs WHERE partner = :p AND run_id < (SELECT min(run_id) FROM "
            "(SELECT run_id FROM partner_runs WHERE partner = :p ORDER BY run_id DESC LIMIT :n) kept)"),
            {"p": p.slug, "n": KEEP_RUNS})
    return "stored" if changed else "older than stored"


def _run(row: Any) -> dict[str, Any] | None:
    if row is None or row["run_id"] is None:
        return None
    return {
        "status": row["status"],
        "complete": row["complete"],
        "started_at": row["started_at"].isoformat() if row["started_at"] else None,
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
        "counts": dict(row["counts"] or {}),
        "errors_sample": list(row["error_samples"] or [])[:3],
        "by_rule": dict(row["by_rule"] or {}),
        "first_reasons": list(row["first_reasons"] or []),
    }


_RUN = "r.run_id, r.status, r.complete, r.started_at, r.finished_at, r.counts, r.error_samples, r.by_rule, " \
       "r.first_reasons"


async def partners(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every crawled partner with its last finished run, the enabled first."""
    rows = (await conn.execute(text(
        f"""
        SELECT p.*, {_RUN}
        FROM partner_directory p
        LEFT JOIN LATERAL (SELECT * FROM partner_runs WHERE partner = p.slug AND status <> 'running'
                           ORDER BY run_id DESC LIMIT 1) r ON true
        ORDER BY p.enabled DESC, p.slug
        """))).mappings().all()
    return [{
        "slug": r["slug"], "name": r["name"], "base_url": r["base_url"], "connector": r["connector"],
        "licence": r["licence"], "attribution": r["attribution"], "enabled": r["enabled"], "guessed": r["guessed"],
        "schedule_s": r["schedule_s"], "records": r["records"], "last_crawl": _run(r),
    } for r in rows]


async def runs(conn: AsyncConnection, slug: str, limit: int) -> tuple[str, list[dict[str, Any]]] | None:
    """(partner name, runs newest first), or None when the partner is unknown."""
    name = (await conn.execute(text("SELECT name FROM partner_directory WHERE slug = :s"), {"s": slug})).first()
    if name is None:
        return None
    rows = (await conn.execute(text(
        f"SELECT {_RUN} FROM partner_runs r WHERE r.partner = :s ORDER BY r.run_id DESC LIMIT :n"),
        {"s": slug, "n": limit})).mappings().all()
    return name[0], [_run(r) for r in rows]


async def registry(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """slug → {name, licence, url, attribution}: crawled partners, then pushing partners' organisations
    (an organisation's own name wins over the crawler's for the same slug)."""
    out: dict[str, dict[str, Any]] = {}
    for r in (await conn.execute(text(
            "SELECT slug, name, licence, base_url, attribution FROM partner_directory"))).mappings():
        out[r["slug"]] = {"name": r["name"], "licence": r["licence"], "url": r["base_url"],
                          "attribution": r["attribution"]}
    for r in (await conn.execute(text("SELECT slug, name FROM partner_orgs"))).mappings():
        out[r["slug"]] = {**out.get(r["slug"], {"licence": None, "url": None, "attribution": None}),
                          "name": r["name"]}
    return out
