"""Partners and their crawl status: ``GET /api/v1/partners`` and ``GET /api/v1/partners/{slug}/runs``,
and the operators' pages ``/operateur/collecte`` (every partner's last run) and
``/operateur/collecte/{slug}`` (its runs: status, counts, items set aside by rule, first reasons).

Read from the tables the crawler writes (crawl_partners, crawl_runs, crawl_records); the gateway
never reads the crawler's YAML nor imports its code.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy import text

from services.gateway.accounts.identity import current_user, login_redirect

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


async def _partners(request: Request) -> list[dict[str, Any]]:
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
    return [{
        "slug": r["slug"], "name": r["name"], "base_url": r["base_url"], "connector": r["connector"],
        "licence": r["licence"], "attribution": r["attribution"], "enabled": r["enabled"], "guessed": r["guessed"],
        "schedule_s": r["schedule_s"], "records": r["records"], "last_crawl": _run(r),
    } for r in rows]


async def _runs(request: Request, slug: str, limit: int) -> tuple[str | None, list[dict[str, Any]]] | None:
    """(partner name, runs newest first), or None when the partner is unknown."""
    if not SLUG.match(slug):
        return None
    async with request.app.state.engine.connect() as conn:
        name = (await conn.execute(text("SELECT name FROM crawl_partners WHERE slug = :s"), {"s": slug})).first()
        if name is None:
            return None
        rows = (await conn.execute(text(
            f"SELECT {_RUN_COLUMNS} FROM crawl_runs WHERE partner = :s ORDER BY id DESC LIMIT :n"),
            {"s": slug, "n": limit})).mappings().all()
    return name[0], [_run(r) for r in rows]


@get("/api/v1/partners", summary="Partner sites the crawler harvests, with their last crawl status and counts")
async def list_partners(request: Request) -> dict[str, Any]:
    partners = await _partners(request)
    return {"total": len(partners), "partners": partners}


@get("/api/v1/partners/{slug:str}/runs", summary="A partner's recent crawl runs, newest first: status (ok, "
     "degraded, partial, failed), counts, items set aside by rule and the first reasons")
async def partner_runs(request: Request, slug: str,
                       limit: Annotated[int, Parameter(ge=1, le=100)] = 20) -> dict[str, Any]:
    found = await _runs(request, slug, limit)
    if found is None:
        raise NotFoundException(f"no partner {slug!r}")
    return {"partner": slug, "runs": found[1]}


# --------------------------------------------------------------------------- operators' pages

STATUS_LABELS = {"ok": "ok", "degraded": "dégradée", "partial": "partielle", "failed": "échouée",
                 "running": "en cours"}


async def _operator(request: Request) -> Response | None:
    """None for an operator; else the login redirect or a 403 page."""
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    if not user.has("operator"):
        return Template("accounts/message.html", status_code=403, headers={"cache-control": "no-store"},
                        context={"title": "Accès refusé", "message": "Cette page est réservée à l'équipe de Carrefour.",
                                 "link": ("/", "Accueil")})
    return None


@get("/operateur/collecte", media_type=MediaType.HTML, include_in_schema=False)
async def crawl_page(request: Request) -> Response:
    denied = await _operator(request)
    if denied:
        return denied
    return Template("partners/collecte.html", headers={"cache-control": "no-store"},
                    context={"partners": await _partners(request), "labels": STATUS_LABELS})


@get("/operateur/collecte/{slug:str}", media_type=MediaType.HTML, include_in_schema=False)
async def crawl_partner_page(request: Request, slug: str) -> Response:
    denied = await _operator(request)
    if denied:
        return denied
    found = await _runs(request, slug, 20)
    if found is None:
        return Template("accounts/message.html", status_code=404, headers={"cache-control": "no-store"},
                        context={"title": "Introuvable", "message": "Ce partenaire n'existe pas.",
                                 "link": ("/operateur/collecte", "Collecte")})
    return Template("partners/collecte_partner.html", headers={"cache-control": "no-store"},
                    context={"slug": slug, "name": found[0], "runs": found[1], "labels": STATUS_LABELS})


routes = [list_partners, partner_runs, crawl_page, crawl_partner_page]
