"""The partners' public pages (French): ``/partenaires`` (every source of the data, by name, with its
licence and how many projects it brings) and ``/partenaires/{slug}`` (what it publishes: projects,
themes, régions; its licence and attribution; its last harvest when the crawler harvests it).

Names, licences, attribution, logos and addresses come from ``app.state.partners`` (the partner
read model: slug → {"name", "licence", "url", "attribution", "logo", ...}); the last harvest from the
partners area's run queries (``partners.routes._runs``)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get
from litestar.response import Template

from services.gateway.partners.routes import SLUG, STATUS_LABELS, _runs
from services.gateway.search.params import app_state, labels_of
from services.gateway.search.rules import parse_search

LATEST = 10


def _entry(slug: str, info: dict[str, Any] | None, projects: int) -> dict[str, Any]:
    info = info or {}
    return {"slug": slug, "name": info.get("name") or slug, "licence": info.get("licence"),
            "attribution": info.get("attribution"), "url": info.get("url"), "logo": info.get("logo"),
            "projects": projects}


@get("/partenaires", media_type=MediaType.HTML, include_in_schema=False)
async def partners_page(request: Request) -> Template:
    state = app_state(request)
    counts = (await state.search.stats())["facets"].get("source", {})
    slugs = sorted(set(state.partners) | set(counts), key=lambda s: (-(counts.get(s) or 0), s))
    entries = [_entry(s, state.partners.get(s), counts.get(s) or 0) for s in slugs]
    return Template("partners/list.html", context={"partners": entries,
                                                    "total": sum(e["projects"] for e in entries)})


@get("/partenaires/{slug:str}", media_type=MediaType.HTML, include_in_schema=False)
async def partner_page(request: Request, slug: str) -> Template:
    state = app_state(request)
    info = state.partners.get(slug) if SLUG.match(slug) else None
    result = None
    if SLUG.match(slug):
        result = await state.search.search(parse_search(filters={"source": [slug]}, sort="newest", page=1,
                                                        per_page=LATEST))
    if info is None and not (result and result["total"]):
        return Template("accounts/message.html", status_code=404,
                        context={"title": "Introuvable", "message": "Aucune source de données ne porte ce nom.",
                                 "link": ("/partenaires", "Les sources")})
    runs = await _runs(request, slug, 1)
    labels = labels_of(result or {})
    facets = (result or {}).get("facets", {})
    return Template("partners/partner.html", context={
        "partner": _entry(slug, info, (result or {}).get("total", 0)), "latest": (result or {}).get("hits", []),
        "themes": [(labels["theme"].get(v, v), v, n) for v, n in list(facets.get("theme", {}).items())[:8]],
        "regions": [(labels.get("region", {}).get(v, v), v, n) for v, n in list(facets.get("region", {}).items())[:8]],
        "last_run": (runs[1][0] if runs and runs[1] else None), "status_labels": STATUS_LABELS})


routes = [partners_page, partner_page]
