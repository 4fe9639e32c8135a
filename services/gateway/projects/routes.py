"""Project pages and the project API: one canonical project with all its sources, similar projects
nearby, the holder's block and the project's open matchmaking posts."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from litestar import MediaType, Request, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.response import Template

from libs.contracts.taxonomy import taxonomy
from services.gateway.claims.routes import project_holder  # "Projet géré par son porteur" block
from services.gateway.matchmaking.routes import project_posts  # the project's open posts
from services.gateway.reports.routes import form_context
from services.gateway.reports.service import closed_among
from services.gateway.search.params import app_state, labels_of
from services.gateway.search.routes import API_CACHE
from services.gateway.search.similar import ELSEWHERE

PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
SIMILAR = 6


@get("/api/v1/projects/{project_id:str}", cache_control=API_CACHE,
     summary="One project with all its sources, similar projects nearby (same themes, closest first) and "
             "`elsewhere`: the most similar projects of other territories (words and themes, one per partner)")
async def get_project(request: Request, project_id: str) -> dict[str, Any]:
    if not PROJECT_ID.match(project_id):
        raise NotFoundException("no such project")
    doc = await app_state(request).search.get(project_id)
    if doc is None:
        raise NotFoundException("no such project")
    doc["similar"], doc["elsewhere"] = await _related(app_state(request).search, doc)
    return doc


async def _related(search, doc: dict[str, Any]) -> tuple[list, list]:
    """Similar projects nearby and elsewhere, asked side by side (two pooled connections)."""
    similar, elsewhere = await asyncio.gather(search.similar(doc, SIMILAR), search.elsewhere(doc, ELSEWHERE))
    return similar, elsewhere


@get("/api/v1/taxonomy", cache_control=CacheControlHeader(max_age=3600, public=True))
async def get_taxonomy() -> dict[str, Any]:
    return taxonomy().model_dump()


@get("/projets/{project_id:str}", media_type=MediaType.HTML, include_in_schema=False)
async def project_page(request: Request, project_id: str) -> Template:
    state = app_state(request)
    doc = await state.search.get(project_id) if PROJECT_ID.match(project_id) else None
    if doc is None:
        raise NotFoundException("Projet introuvable")
    similar, elsewhere = await _related(state.search, doc)
    closed = await closed_among(state.engine, [project_id])
    return Template("project.html", context=dict(doc=doc, p=doc.get("project", {}), labels=labels_of({}),
                                                 similar=similar, elsewhere=elsewhere, partners=state.partners,
                                                 claim=await project_holder(request, project_id),
                                                 posts=await project_posts(request.app, project_id),
                                                 closed_since=closed.get(project_id),
                                                 reported=request.query_params.get("signalement") == "merci",
                                                 **form_context(doc)))


@get("/projets/{project_id:str}/carte", media_type=MediaType.HTML, include_in_schema=False,
     cache_control=CacheControlHeader(max_age=60, public=True))
async def project_card(request: Request, project_id: str) -> Template:
    """The project's card in a map popup (a fragment): title, place, themes, sources, link. ``cible=_top``
    (the embeddable map) opens the link outside the iframe."""
    state = app_state(request)
    doc = await state.search.get(project_id) if PROJECT_ID.match(project_id) else None
    if doc is None:
        raise NotFoundException("Projet introuvable")
    closed = await closed_among(state.engine, [project_id])
    target = "_top" if request.query_params.get("cible") == "_top" else None
    return Template("_card.html", context=dict(doc=doc, labels=labels_of({}), partners=state.partners,
                                               closed=project_id in closed, target=target))


routes = [get_project, get_taxonomy, project_page, project_card]
