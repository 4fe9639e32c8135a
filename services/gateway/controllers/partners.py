"""Partners and their crawl status: ``GET /api/v1/partners`` and ``GET /api/v1/partners/{slug}/runs``.

Read from the tables the crawler writes (crawl_partners, crawl_runs, crawl_records); the gateway
never reads the crawler's YAML nor imports its code.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from sqlalchemy import text

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
COUNTS = ("requests", "fetched", "not_modified", "unchanged", "new", "updated", "deleted", "rejected", "errors",
          "items", "projects", "excluded")
"""``items`` read = ``projects`` (emitted or unchanged) + ``excluded`` (not projects) + ``rejected`` (invalid)."""

_RUN_COLUMNS = ("id, status, complete, started_at, finished_at, " + ", ".join(COUNTS)
                + ", error_samples, by_rule, first_reasons")


def _run(row) -> dict[str, Any] | None:
    if row is None or row["id"] is None:
        return None
    return {
        "status": row["status"],
        "complete": row["complete"],
        "started_at": row["started_at"].isoformat() if row["started_at"] else None,
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
        "counts": {k: row[k] for k in COUNTS},
        "errors_sample": list(row["error_samples"] or [])[:3],
        "by_rule": dict(row["by_rule"] or {}),
        "first_reasons": list(row["first_reasons"] or []),
    }


@get("/api/v1/partners", summary="Partner sites the crawler harvests, with their last crawl status and counts")
async def list_partners(request: Request) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = (await conn.execute(text(
            f"""
            SELECT p.slug, p.name, p.base_url, p.connector, p.licence, p.attribution, p.enabled, p.guessed,
                   p.schedule_s, r.{_RUN_COLUMNS.replace(', ', ', r.')},
                   (SELECT count(*) FROM crawl_records c WHERE c.partner = p.slug AND NOT c.deleted) AS records
            FROM crawl_partners p
            LEFT JOIN LATERAL (SELECT * FROM crawl_runs WHERE partner = p.slug AND status <> 'running'
                               ORDER BY id DESC LIMIT 1) r ON true
            ORDER BY p.enabled DESC, p.slug
            """))).mappings().all()
    partners = [{
        "slug": r["slug"], "name": r["name"], "base_url": r["base_url"], "connector": r["connector"],
        "licence": r["licence"], "attribution": r["attribution"], "enabled": r["enabled"], "guessed": r["guessed"],
        "schedule_s": r["schedule_s"], "records": r["records"], "last_crawl": _run(r),
    } for r in rows]
    return {"total": len(partners), "partners": partners}


@get("/api/v1/partners/{slug:str}/runs", summary="A partner's recent crawl runs, newest first: status (ok, "
     "degraded, partial, failed), counts, items set aside by rule and the first reasons")
async def partner_runs(request: Request, slug: str,
                       limit: Annotated[int, Parameter(ge=1, le=100)] = 20) -> dict[str, Any]:
    if not SLUG.match(slug):
        raise NotFoundException(f"no partner {slug!r}")
    async with request.app.state.engine.connect() as conn:
        exists = (await conn.execute(text("SELECT 1 FROM crawl_partners WHERE slug = :s"), {"s": slug})).first()
        if exists is None:
            raise NotFoundException(f"no partner {slug!r}")
        rows = (await conn.execute(text(
            f"SELECT {_RUN_COLUMNS} FROM crawl_runs WHERE partner = :s ORDER BY id DESC LIMIT :n"),
            {"s": slug, "n": limit})).mappings().all()
    return {"partner": slug, "runs": [_run(r) for r in rows]}


routes = [list_partners, partner_runs]
