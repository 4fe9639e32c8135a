"""Partners and their crawl status: ``GET /api/v1/partners`` and ``GET /api/v1/partners/{slug}/runs``,
and the operators' pages ``/operateur/collecte`` (every partner's last run) and
``/operateur/collecte/{slug}`` (its runs: status, counts, items set aside by rule, first reasons).

Read from the gateway's partner directory (``directory.py``), fed by the crawler's ``crawl.partners.v1``;
the gateway never reads the crawler's tables or files nor imports its code.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Template

from services.gateway.accounts.identity import current_user, login_redirect
from services.gateway.partners import directory, registry

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


async def _partners(request: Request) -> list[dict[str, Any]]:
    async with request.app.state.engine.connect() as conn:
        return await directory.partners(conn)


async def _runs(request: Request, slug: str, limit: int) -> tuple[str, list[dict[str, Any]]] | None:
    """(partner name, runs newest first), or None when the partner is unknown."""
    if not SLUG.match(slug):
        return None
    async with request.app.state.engine.connect() as conn:
        return await directory.runs(conn, slug, limit)


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
lifespan = registry.lifespan
