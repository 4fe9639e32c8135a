"""Matchmaking JSON API under /api/v1/matchmaking/, the project page's posts, and the periodic expiry of posts.

Handlers are thin: validation is matchmaking.domain, use cases matchmaking.service, SQL matchmaking.store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from litestar import Litestar, Request, Response, get, post, put
from litestar.datastructures import CacheControlHeader
from litestar.params import Parameter

from services.gateway.accounts.throttle import rate_limit
from services.gateway.matchmaking import service, store
from services.gateway.matchmaking.domain import KINDS, POST_ID, validate_post
from services.gateway.matchmaking.matching import parse_post_query
from services.gateway.matchmaking.places import gazetteer
from services.gateway.matchmaking.service import Refused
from services.gateway.matchmaking.skills import labels as skill_labels
from services.gateway.matchmaking.web import (
    API_CACHE,
    MAX_MAP_POINTS,
    NO_STORE,
    client_ip,
    labels_of,
    log,
    public,
    query_from,
    refusal,
    request_user,
    search,
    state,
    visible_post,
)
from services.gateway.settings import settings


@get("/api/v1/matchmaking/posts", cache_control=API_CACHE,
     summary="Search posts: text (French, typo-tolerant), facets (kind, skill, contract type, remote, theme, territory), distance")
async def api_search(
    request: Request,
    q: Annotated[str | None, Parameter(max_length=200)] = None,
    page: int = 1,
    per_page: int = 20,
) -> dict[str, Any]:
    """Repeatable facets: ``kind``, ``skill``, ``contract_type``, ``remote``, ``theme``, ``region``,
    ``departement``, ``commune``; ``lat``+``lon``(+``radius_km``), ``bbox``, ``project`` (a project's
    posts), ``sort=relevance|newest|nearest|deadline``. Only open, visible posts."""
    query = query_from(request)
    result = await search(request, query)
    base = str(request.base_url).rstrip("/")
    return {"total": result["total"], "page": query.page, "per_page": query.per_page,
            "hits": [public(h, base) for h in result["hits"]],
            "facets": {f: [{"value": v, "count": n} for v, _l, n in vals] for f, vals in result["facets"].items()},
            "labels": labels_of(result["facets"])}


@get("/api/v1/matchmaking/map", cache_control=API_CACHE, summary="Posts as GeoJSON points (every search filter applies)")
async def api_map(request: Request) -> Response:
    query = query_from(request, page=1, per_page=20, sort=None)
    async with state(request).engine.connect() as conn:
        rows = await store.geo_points(conn, query, MAX_MAP_POINTS)
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                 "properties": {"id": r["id"], "post": True, "kind": r["kind"], "kind_label": KINDS[r["kind"]],
                                "title": r["title"], "commune_name": r["commune_name"], "project_id": r["project_id"],
                                "url": f"/annonces/{r['id']}",
                                "deadline": r["deadline"].isoformat() if r["deadline"] else None}}
                for r in rows]
    return Response({"type": "FeatureCollection", "features": features,
                     "properties": {"total": len(features), "truncated": len(features) >= MAX_MAP_POINTS}},
                    media_type="application/geo+json")


@get("/api/v1/matchmaking/skills", cache_control=CacheControlHeader(max_age=3600, public=True),
     summary="The skills vocabulary (slug, French label); other skills are accepted as folded free text")
async def api_skills() -> dict[str, Any]:
    return {"skills": [{"slug": s, "label": lbl} for s, lbl in skill_labels().items()]}


@get("/api/v1/matchmaking/places", cache_control=CacheControlHeader(max_age=3600, public=True),
     summary="Communes starting with a name or postcode (for a person's post)")
async def api_places(q: Annotated[str, Parameter(min_length=1, max_length=120)],
                     limit: Annotated[int, Parameter(ge=1, le=20)] = 10) -> dict[str, Any]:
    return {"q": q, "places": [{"code": p.code, "name": p.name, "postcode": p.postcode, "label": p.label,
                                "departement": p.departement, "region": p.region}
                               for p in gazetteer().complete(q, limit)]}


@get("/api/v1/matchmaking/posts/{post_id:str}", cache_control=NO_STORE, summary="One post")
async def api_get(request: Request, post_id: str) -> dict[str, Any]:
    user = await request_user(request)
    return public(await visible_post(request, post_id, user), str(request.base_url).rstrip("/"))


@get("/api/v1/matchmaking/posts/{post_id:str}/suggestions", cache_control=NO_STORE,
     summary="Posts and projects that answer a post, each with its reasons in French")
async def api_suggestions(request: Request, post_id: str) -> dict[str, Any]:
    user = await request_user(request)
    post_row = await visible_post(request, post_id, user)
    got = await service.suggestions(state(request).engine, state(request).search, post_row)
    return {kind: [{"type": s.kind, "id": s.id, "title": s.title, "score": s.score, "reasons": list(s.reasons),
                    "explanation": s.explanation, "distance_km": s.distance_km, "post_kind": s.post_kind,
                    "url": f"/annonces/{s.id}" if s.kind == "post" else f"/projets/{s.id}"}
                   for s in items] for kind, items in got.items()}


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except Exception:  # noqa: BLE001 — malformed JSON is the sender's error
        raise Refused(400, "Corps JSON invalide.") from None
    if not isinstance(data, dict):
        raise Refused(400, "Un objet JSON est attendu.")
    return data


@post("/api/v1/matchmaking/posts", status_code=201, summary="Publish a post (logged in, verified; project posts: its holder)")
async def api_create(request: Request) -> Response:
    try:
        user = await request_user(request)
        if user is None:
            raise Refused(401, "Connectez-vous pour publier une annonce.")
        data = await _json_body(request)
        draft, errors = validate_post(data, service.paris_today())
        if errors:
            raise Refused(400, "Annonce invalide.", errors)
        await rate_limit(request, "posts", f"user:{user.id}", state(request).settings.posts_per_hour, 3600)
        created = await service.create(state(request).engine, state(request).broker, state(request).search, user,
                                       draft)
    except Refused as exc:
        return refusal(exc)
    return Response(public(created, str(request.base_url).rstrip("/")), status_code=201)


@put("/api/v1/matchmaking/posts/{post_id:str}", summary="Edit a post (its author)")
async def api_update(request: Request, post_id: str) -> Response:
    try:
        user = await request_user(request)
        if user is None:
            raise Refused(401, "Connectez-vous.")
        existing = await visible_post(request, post_id, user)
        data = await _json_body(request)
        draft, errors = validate_post(data, service.paris_today(), kind=existing["kind"])
        if errors:
            raise Refused(400, "Annonce invalide.", errors)
        updated = await service.update(state(request).engine, state(request).broker, state(request).search, user,
                                       post_id, draft)
    except Refused as exc:
        return refusal(exc)
    return Response(public(updated, str(request.base_url).rstrip("/")))


@post("/api/v1/matchmaking/posts/{post_id:str}/close", status_code=200, summary="Close a post (its author)")
async def api_close(request: Request, post_id: str) -> Response:
    try:
        user = await request_user(request)
        await visible_post(request, post_id, user) if user else None
        closed = await service.close(state(request).engine, state(request).broker, user, post_id)
    except Refused as exc:
        return refusal(exc)
    return Response(public(closed))


async def _moderate(request: Request, post_id: str, hidden: bool) -> Response:
    try:
        user = await request_user(request)
        reason = None
        if hidden and user is not None and user.has("moderator"):
            with contextlib.suppress(Refused):
                reason = (await _json_body(request)).get("reason")
            if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
                raise Refused(400, "Motif : un texte d'au plus 500 caractères.", {"reason": "Au plus 500 caractères."})
        if not POST_ID.match(post_id):
            raise Refused(404, "Annonce introuvable.")
        changed = await service.set_hidden(state(request).engine, state(request).broker, user, post_id, hidden,
                                           reason)
    except Refused as exc:
        return refusal(exc)
    return Response({**public(changed), "hidden": changed["hidden"]})


@post("/api/v1/matchmaking/posts/{post_id:str}/hide", status_code=200, summary="Hide a post (moderators)")
async def api_hide(request: Request, post_id: str) -> Response:
    return await _moderate(request, post_id, True)


@post("/api/v1/matchmaking/posts/{post_id:str}/unhide", status_code=200, summary="Show a hidden post again (moderators)")
async def api_unhide(request: Request, post_id: str) -> Response:
    return await _moderate(request, post_id, False)


@post("/api/v1/matchmaking/posts/{post_id:str}/report", status_code=202,
      summary="Report a post to the moderators (anyone; rate-limited)")
async def api_report(request: Request, post_id: str) -> Response:
    try:
        if not POST_ID.match(post_id):
            raise Refused(404, "Annonce introuvable.")
        user = await request_user(request)
        data = await _json_body(request)
        reason, details = data.get("reason"), data.get("details")
        if details is not None and not isinstance(details, str):
            raise Refused(400, "Précisions : texte attendu.", {"details": "Texte attendu."})
        count = await service.report(state(request).engine, state(request).broker, user, client_ip(request), post_id,
                                     reason if isinstance(reason, str) else "", details)
    except Refused as exc:
        return refusal(exc)
    return Response({"reported": True, "reports": count}, status_code=202)


@get("/api/v1/matchmaking/moderation", cache_control=NO_STORE, summary="Reported and hidden posts (moderators)")
async def api_moderation(request: Request) -> Response:
    user = await request_user(request)
    if user is None:
        return refusal(Refused(401, "Connectez-vous."))
    if not user.has("moderator"):
        return refusal(Refused(403, "Réservé aux modérateurs."))
    async with state(request).engine.connect() as conn:
        queue = await store.moderation_queue(conn)
    return Response({"posts": [{**public(p), "hidden": p["hidden"], "hidden_reason": p["hidden_reason"],
                                "open_reports": p["open_reports"], "reports": p["reports"]} for p in queue]})


async def project_posts(app: Litestar, project_id: str) -> list[dict[str, Any]]:
    """Open, visible posts of a project (for the project page); [] if anything goes wrong."""
    try:
        async with app.state.engine.connect() as conn:
            result = await store.search(conn, parse_post_query(project=project_id, sort="newest", per_page=20))
        return result["hits"]
    except Exception as exc:  # noqa: BLE001 — the project page shows without its posts rather than fail
        log.warning("project posts unavailable", project_id=project_id, error=f"{type(exc).__name__}: {exc}")
        return []


# --------------------------------------------------------------------------- expiry


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Every ``MATCHMAKING_EXPIRY_INTERVAL_S`` seconds, close the posts whose deadline or lifetime is over."""
    interval = max(5.0, float(getattr(settings(), "matchmaking_expiry_interval_s", 300.0)))

    async def loop() -> None:
        while True:
            try:
                await service.expire(app.state.engine, app.state.broker)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — retried at the next tick
                log.warning("post expiry failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="matchmaking-expiry")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

routes: list = [api_search, api_map, api_skills, api_places, api_get, api_suggestions, api_create, api_update,
                api_close, api_hide, api_unhide, api_report, api_moderation]
