"""Matchmaking posts: calls for expertise, job offers, job searches, offers of expertise.

JSON API under ``/api/v1/matchmaking/`` and French pages under ``/annonces``. Handlers are thin:
validation is ``matchmaking.domain``, use cases ``matchmaking.service``, SQL ``matchmaking.store``.
A periodic task (``lifespan``) closes the posts whose deadline or lifetime is over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import urlencode

import structlog
from litestar import Litestar, MediaType, Request, Response, get, post, put
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter
from litestar.response import Redirect, Template

from services.gateway.settings import settings
from libs.contracts.taxonomy import taxonomy
from services.gateway.domain import QueryError
from services.gateway.matchmaking import service, store
from services.gateway.matchmaking.domain import (
    CLOSE_REASONS,
    CONTRACT_TYPES,
    FACET_TITLES,
    FACETS,
    FIELD_LABELS,
    KINDS,
    PAY_PERIODS,
    POST_ID,
    REMOTE,
    REPORT_REASONS,
    can_edit,
    can_see,
    parse_post_query,
    skill_label,
    validate_post,
)
from services.gateway.matchmaking.places import gazetteer
from services.gateway.matchmaking.service import Refused
from services.gateway.matchmaking.skills import labels as skill_labels

log = structlog.get_logger()
API_CACHE = CacheControlHeader(max_age=30, public=True)
NO_STORE = CacheControlHeader(no_store=True)
PER_PAGE_HTML = 20
NEAR_RADII = ("5", "10", "25", "50", "100", "200")
NEAR_DEFAULT_KM = 25
MAX_MAP_POINTS = 2000
LIST_FIELDS = ("skills", "themes")
FORM_FIELDS = ("kind", "title", "description", "skills", "themes", "project_id", "commune", "remote", "deadline",
               "contract_type", "hours", "pay_min", "pay_max", "pay_period", "start_date", "availability")
SEARCH_PARAMS = ("q", "lat", "lon", "radius_km", "bbox", "sort", "page", "per_page", "project", "zoom", *FACETS)


# --------------------------------------------------------------------------- helpers


async def _user(request: Request):
    from services.gateway.accounts.identity import current_user

    return await current_user(request)


def _state(request: Request):
    return request.app.state


def _refusal(exc: Refused) -> Response:
    body: dict[str, Any] = {"status_code": exc.status, "detail": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    return Response(body, status_code=exc.status)


def _theme_labels() -> dict[str, str]:
    return {t.slug: t.label for t in taxonomy().terms("theme")}


def _public(post: dict[str, Any], base: str = "") -> dict[str, Any]:
    """A post as the API shows it: no author id, labels beside codes."""
    out = {k: v for k, v in post.items() if k not in ("author_id", "hidden_reason", "report_count")}
    out["url"] = f"{base}/annonces/{post['id']}"
    out["kind_label"] = KINDS[post["kind"]]
    out["skill_labels"] = [skill_label(s) for s in post.get("skills") or []]
    for k in ("start_date", "deadline", "created_at", "updated_at", "expires_at", "closed_at"):
        if out.get(k) is not None and not isinstance(out[k], str):
            out[k] = out[k].isoformat()
    return out


def _labels(facets: dict[str, list]) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {"kind": dict(KINDS), "contract_type": dict(CONTRACT_TYPES),
                                         "remote": dict(REMOTE), "theme": _theme_labels(), "skill": skill_labels()}
    for facet in ("skill",):
        for value, _label, _n in facets.get(facet, []):
            labels[facet].setdefault(value, skill_label(value))
    for facet in ("region", "departement", "commune"):
        labels[facet] = {v: (lbl or v) for v, lbl, _ in facets.get(facet, [])}
    return labels


def _query_from(request: Request, **overrides):
    """The validated query of a request; a bad parameter is a 400 naming it."""
    try:
        return _parse_query(request, **overrides)
    except QueryError as exc:
        raise ValidationException(str(exc)) from None


def _parse_query(request: Request, allowed: tuple[str, ...] = SEARCH_PARAMS, **overrides):
    p = request.query_params
    unknown = sorted(set(p) - set(allowed))
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0]!r}")
    args = dict(q=p.get("q"), filters={f: p.getall(f, []) for f in FACETS if p.getall(f, [])}, lat=p.get("lat"),
                lon=p.get("lon"), radius_km=p.get("radius_km"), bbox=p.get("bbox"), sort=p.get("sort") or None,
                project=p.get("project") or None, page=p.get("page") or 1, per_page=p.get("per_page") or 20)
    args.update(overrides)
    return parse_post_query(**args)


async def _search(request: Request, query) -> dict[str, Any]:
    async with _state(request).engine.connect() as conn:
        return await store.search(conn, query)


async def _visible_post(request: Request, post_id: str, user) -> dict[str, Any]:
    if not POST_ID.match(post_id):
        raise NotFoundException("Annonce introuvable")
    async with _state(request).engine.connect() as conn:
        post_row = await store.get_post(conn, post_id)
    if post_row is None or not can_see(post_row, user.id if user else None, bool(user and user.has("moderator"))):
        raise NotFoundException("Annonce introuvable")
    return post_row


def _form_dict(form) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in FORM_FIELDS:
        values = form.getall(name, []) if hasattr(form, "getall") else []
        if name in LIST_FIELDS:
            out[name] = [v for v in values if isinstance(v, str)][:50]
        else:
            value = values[-1] if values else None
            out[name] = value if isinstance(value, str) else None
    return out


# --------------------------------------------------------------------------- JSON API


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
    query = _query_from(request)
    result = await _search(request, query)
    base = str(request.base_url).rstrip("/")
    return {"total": result["total"], "page": query.page, "per_page": query.per_page,
            "hits": [_public(h, base) for h in result["hits"]],
            "facets": {f: [{"value": v, "count": n} for v, _l, n in vals] for f, vals in result["facets"].items()},
            "labels": _labels(result["facets"])}


@get("/api/v1/matchmaking/map", cache_control=API_CACHE, summary="Posts as GeoJSON points (every search filter applies)")
async def api_map(request: Request) -> Response:
    query = _query_from(request, page=1, per_page=20, sort=None)
    async with _state(request).engine.connect() as conn:
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
    user = await _user(request)
    return _public(await _visible_post(request, post_id, user), str(request.base_url).rstrip("/"))


@get("/api/v1/matchmaking/posts/{post_id:str}/suggestions", cache_control=NO_STORE,
     summary="Posts and projects that answer a post, each with its reasons in French")
async def api_suggestions(request: Request, post_id: str) -> dict[str, Any]:
    user = await _user(request)
    post_row = await _visible_post(request, post_id, user)
    got = await service.suggestions(_state(request).engine, _state(request).search, post_row)
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
        user = await _user(request)
        if user is None:
            raise Refused(401, "Connectez-vous pour publier une annonce.")
        data = await _json_body(request)
        draft, errors = validate_post(data, service.paris_today())
        if errors:
            raise Refused(400, "Annonce invalide.", errors)
        created = await service.create(_state(request).engine, _state(request).broker, _state(request).search, user,
                                       draft)
    except Refused as exc:
        return _refusal(exc)
    return Response(_public(created, str(request.base_url).rstrip("/")), status_code=201)


@put("/api/v1/matchmaking/posts/{post_id:str}", summary="Edit a post (its author)")
async def api_update(request: Request, post_id: str) -> Response:
    try:
        user = await _user(request)
        if user is None:
            raise Refused(401, "Connectez-vous.")
        existing = await _visible_post(request, post_id, user)
        data = await _json_body(request)
        draft, errors = validate_post(data, service.paris_today(), kind=existing["kind"])
        if errors:
            raise Refused(400, "Annonce invalide.", errors)
        updated = await service.update(_state(request).engine, _state(request).broker, _state(request).search, user,
                                       post_id, draft)
    except Refused as exc:
        return _refusal(exc)
    return Response(_public(updated, str(request.base_url).rstrip("/")))


@post("/api/v1/matchmaking/posts/{post_id:str}/close", status_code=200, summary="Close a post (its author)")
async def api_close(request: Request, post_id: str) -> Response:
    try:
        user = await _user(request)
        await _visible_post(request, post_id, user) if user else None
        closed = await service.close(_state(request).engine, _state(request).broker, user, post_id)
    except Refused as exc:
        return _refusal(exc)
    return Response(_public(closed))


async def _moderate(request: Request, post_id: str, hidden: bool) -> Response:
    try:
        user = await _user(request)
        reason = None
        if hidden and user is not None and user.has("moderator"):
            with contextlib.suppress(Refused):
                reason = (await _json_body(request)).get("reason")
            if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
                raise Refused(400, "Motif : un texte d'au plus 500 caractères.", {"reason": "Au plus 500 caractères."})
        if not POST_ID.match(post_id):
            raise Refused(404, "Annonce introuvable.")
        changed = await service.set_hidden(_state(request).engine, _state(request).broker, user, post_id, hidden,
                                           reason)
    except Refused as exc:
        return _refusal(exc)
    return Response({**_public(changed), "hidden": changed["hidden"]})


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
        user = await _user(request)
        data = await _json_body(request)
        reason, details = data.get("reason"), data.get("details")
        if details is not None and not isinstance(details, str):
            raise Refused(400, "Précisions : texte attendu.", {"details": "Texte attendu."})
        count = await service.report(_state(request).engine, _state(request).broker, user, _ip(request), post_id,
                                     reason if isinstance(reason, str) else "", details)
    except Refused as exc:
        return _refusal(exc)
    return Response({"reported": True, "reports": count}, status_code=202)


@get("/api/v1/matchmaking/moderation", cache_control=NO_STORE, summary="Reported and hidden posts (moderators)")
async def api_moderation(request: Request) -> Response:
    user = await _user(request)
    if user is None:
        return _refusal(Refused(401, "Connectez-vous."))
    if not user.has("moderator"):
        return _refusal(Refused(403, "Réservé aux modérateurs."))
    async with _state(request).engine.connect() as conn:
        queue = await store.moderation_queue(conn)
    return Response({"posts": [{**_public(p), "hidden": p["hidden"], "hidden_reason": p["hidden_reason"],
                                "open_reports": p["open_reports"], "reports": p["reports"]} for p in queue]})


def _ip(request: Request) -> str:
    return request.client.host if request.client else "?"


# --------------------------------------------------------------------------- web pages


def _page(request: Request, name: str, status_code: int = 200, **context) -> Template:
    context.setdefault("kinds", KINDS)
    context.setdefault("back", None)
    context["status_code"] = status_code
    context.update(contract_types=CONTRACT_TYPES, remote_labels=REMOTE, pay_periods=PAY_PERIODS,
                   skill_label=skill_label, theme_labels=_theme_labels(), close_reasons=CLOSE_REASONS)
    return Template(f"matchmaking/{name}", context=context, status_code=status_code)


def _error_page(request: Request, exc: Refused) -> Template | Redirect:
    if exc.status == 401:
        from services.gateway.accounts.identity import login_redirect

        return login_redirect(request)
    return _page(request, "error.html", status_code=exc.status, message=exc.message)


@get("/annonces", media_type=MediaType.HTML, include_in_schema=False)
async def list_page(request: Request) -> Template:
    """Search page; besides the API's parameters, ``pres`` (a commune, typed) and ``rayon`` (km) search
    around a place without knowing its coordinates."""
    params = request.query_params
    error, result, query, near = None, None, None, None
    geo: dict[str, Any] = {}
    pres, rayon = (params.get("pres") or "").strip()[:120], params.get("rayon") or str(NEAR_DEFAULT_KM)
    try:
        if pres:
            place, choices = gazetteer().resolve(pres)
            if place is None or place.lat is None:
                hint = (" Précisez : " + " ; ".join(c.label for c in choices[:4]) + ".") if choices else ""
                raise QueryError(f"commune « {pres} » {'ambiguë' if choices else 'inconnue'}.{hint}")
            if rayon not in NEAR_RADII:
                raise QueryError("rayon : choisissez " + ", ".join(NEAR_RADII) + " km")
            near = place
            geo = dict(lat=place.lat, lon=place.lon, radius_km=rayon)
        query = _parse_query(request, SEARCH_PARAMS + ("pres", "rayon"), per_page=PER_PAGE_HTML, **geo)
        result = await _search(request, query)
    except QueryError as exc:
        error = str(exc)
    facets = result["facets"] if result else {}
    labels = _labels(facets)
    keep = SEARCH_PARAMS + ("pres", "rayon")
    items = [(k, v) for k, v in params.multi_items() if v and k in keep and k not in ("page", "per_page")]
    chips = [{"title": FACET_TITLES[k], "label": labels.get(k, {}).get(v, v),
              "params": [(a, b) for a, b in items if (a, b) != (k, v)]} for k, v in items if k in FACET_TITLES]
    if near is not None:
        chips.append({"title": "Autour de", "label": f"{near.label}, {rayon} km",
                      "params": [(a, b) for a, b in items if a not in ("pres", "rayon")]})
    map_items = [(k, v) for k, v in items if k not in ("bbox", "sort", "zoom", "pres", "rayon")]
    if near is not None:
        map_items += [("lat", str(near.lat)), ("lon", str(near.lon)), ("radius_km", rayon)]
    last = max(1, -(-result["total"] // PER_PAGE_HTML)) if result else 1
    return _page(request, "list.html", status_code=400 if error else 200, q=params.get("q") or "", error=error,
                 result=result, query=query, facets=facets, labels=labels, facet_titles=FACET_TITLES,
                 base_params=items, chips=chips, last_page=min(last, 500), pres=pres, rayon=rayon,
                 radii=NEAR_RADII, map_params=urlencode(map_items), user=await _user(request))


async def _my_projects(request: Request, user) -> list[dict[str, str]]:
    """The projects the user holds (id and title), for the project choice of the form."""
    try:
        from services.gateway.claims.store import projects_of
    except ImportError:
        return []
    async with _state(request).engine.connect() as conn:
        ids = await projects_of(conn, user.id)
    out = []
    for pid in ids[:100]:
        doc = await _state(request).search.get(pid)
        out.append({"id": pid, "title": (doc or {}).get("title") or pid})
    return out


async def _form_page(request: Request, user, values: dict[str, Any], errors: dict[str, str], *, editing=None,
                     status_code: int = 200) -> Template:
    return _page(request, "form.html", status_code=status_code, values=values, errors=errors, editing=editing,
                 projects=await _my_projects(request, user), field_labels=FIELD_LABELS,
                 themes=taxonomy().terms("theme"), skills=skill_labels(), user=user)


@get("/annonces/nouvelle", media_type=MediaType.HTML, include_in_schema=False)
async def new_page(request: Request) -> Template | Redirect:
    user = await _user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    kind = request.query_params.get("type")
    values = {"kind": kind if kind in KINDS else "", "project_id": request.query_params.get("projet") or ""}
    return await _form_page(request, user, values, {})


@post("/annonces/nouvelle", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def new_submit(request: Request) -> Template | Redirect:
    user = await _user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    values = _form_dict(await request.form())
    draft, errors = validate_post(values, service.paris_today())
    if not errors:
        try:
            created = await service.create(_state(request).engine, _state(request).broker, _state(request).search,
                                           user, draft)
            return Redirect(f"/annonces/{created['id']}?publiee=1", status_code=303)
        except Refused as exc:
            if not exc.errors:
                return _error_page(request, exc)
            errors = exc.errors
    return await _form_page(request, user, values, errors, status_code=400)


def _values_of(post_row: dict[str, Any]) -> dict[str, Any]:
    out = {k: post_row.get(k) for k in FORM_FIELDS if k != "commune"}
    out["commune"] = (f"{post_row['commune_name']} ({post_row['postcode']})" if post_row.get("postcode")
                      else post_row.get("commune") or "") if not post_row.get("project_id") else ""
    out["skills"] = list(post_row.get("skills") or [])  # vocabulary slugs tick their box; free ones fill the text field
    for k in ("deadline", "start_date"):
        out[k] = post_row[k].isoformat() if post_row.get(k) else ""
    return out


@get("/annonces/{post_id:str}/modifier", media_type=MediaType.HTML, include_in_schema=False)
async def edit_page(request: Request, post_id: str) -> Template | Redirect:
    user = await _user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    post_row = await _visible_post(request, post_id, user)
    if not can_edit(post_row, user.id):
        return _error_page(request, Refused(403, "Seul l'auteur de l'annonce peut la modifier."))
    return await _form_page(request, user, _values_of(post_row), {}, editing=post_row)


@post("/annonces/{post_id:str}/modifier", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def edit_submit(request: Request, post_id: str) -> Template | Redirect:
    user = await _user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    post_row = await _visible_post(request, post_id, user)
    values = _form_dict(await request.form())
    values["kind"] = post_row["kind"]
    draft, errors = validate_post(values, service.paris_today(), kind=post_row["kind"])
    if not errors:
        try:
            await service.update(_state(request).engine, _state(request).broker, _state(request).search, user,
                                 post_id, draft)
            return Redirect(f"/annonces/{post_id}?modifiee=1", status_code=303)
        except Refused as exc:
            if not exc.errors:
                return _error_page(request, exc)
            errors = exc.errors
    return await _form_page(request, user, values, errors, editing=post_row, status_code=400)


@get("/annonces/moderation", media_type=MediaType.HTML, include_in_schema=False)
async def moderation_page(request: Request) -> Template | Redirect:
    user = await _user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    if not user.has("moderator"):
        return _error_page(request, Refused(403, "Cette page est réservée aux modérateurs."))
    async with _state(request).engine.connect() as conn:
        queue = await store.moderation_queue(conn)
    return _page(request, "moderation.html", queue=queue, report_reasons=REPORT_REASONS, user=user)


@get("/annonces/mes-annonces", media_type=MediaType.HTML, include_in_schema=False)
async def mine_page(request: Request) -> Template | Redirect:
    user = await _user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    async with _state(request).engine.connect() as conn:
        posts = await store.posts_of_author(conn, user.id)
    return _page(request, "mine.html", posts=posts, user=user)


@get("/annonces/{post_id:str}", media_type=MediaType.HTML, include_in_schema=False)
async def post_page(request: Request, post_id: str) -> Template:
    user = await _user(request)
    post_row = await _visible_post(request, post_id, user)
    got = await service.suggestions(_state(request).engine, _state(request).search, post_row) \
        if post_row["status"] == "open" and not post_row["hidden"] else {"posts": [], "projects": []}
    flags = {k: request.query_params.get(k) == "1" for k in ("publiee", "modifiee", "close", "signalee", "masquee")}
    return _page(request, "post.html", p=post_row, suggestions=got, user=user, flags=flags,
                 is_author=bool(user and can_edit(post_row, user.id)),
                 is_moderator=bool(user and user.has("moderator")), report_reasons=REPORT_REASONS)


@post("/annonces/{post_id:str}/fermer", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def close_submit(request: Request, post_id: str) -> Template | Redirect:
    user = await _user(request)
    try:
        if user is not None:
            await _visible_post(request, post_id, user)
        await service.close(_state(request).engine, _state(request).broker, user, post_id)
    except Refused as exc:
        return _error_page(request, exc)
    return Redirect(f"/annonces/{post_id}?close=1", status_code=303)


@post("/annonces/{post_id:str}/signaler", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def report_submit(request: Request, post_id: str) -> Template | Redirect:
    user = await _user(request)
    form = await request.form()
    reason, details = form.get("reason"), form.get("details")
    try:
        if not POST_ID.match(post_id):
            raise Refused(404, "Annonce introuvable.")
        await service.report(_state(request).engine, _state(request).broker, user, _ip(request), post_id,
                             reason if isinstance(reason, str) else "",
                             (details.strip() or None) if isinstance(details, str) else None)
    except Refused as exc:
        if exc.status == 401:  # reports are open to visitors: never a login
            exc = Refused(400, exc.message)
        return _page(request, "error.html", status_code=exc.status, message=exc.message,
                     back=f"/annonces/{post_id}")
    return Redirect(f"/annonces/{post_id}?signalee=1", status_code=303)


async def _moderate_form(request: Request, post_id: str, hidden: bool) -> Template | Redirect:
    user = await _user(request)
    reason = None
    if hidden:
        raw = (await request.form()).get("reason")
        reason = raw.strip()[:500] or None if isinstance(raw, str) else None
    try:
        if not POST_ID.match(post_id):
            raise Refused(404, "Annonce introuvable.")
        await service.set_hidden(_state(request).engine, _state(request).broker, user, post_id, hidden, reason)
    except Refused as exc:
        return _error_page(request, exc)
    return Redirect(f"/annonces/{post_id}?masquee={'1' if hidden else '0'}", status_code=303)


@post("/annonces/{post_id:str}/masquer", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def hide_submit(request: Request, post_id: str) -> Template | Redirect:
    return await _moderate_form(request, post_id, True)


@post("/annonces/{post_id:str}/demasquer", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def unhide_submit(request: Request, post_id: str) -> Template | Redirect:
    return await _moderate_form(request, post_id, False)


async def project_posts(app: Litestar, project_id: str) -> list[dict[str, Any]]:
    """Open, visible posts of a project (for the project page); [] if anything goes wrong."""
    try:
        async with app.state.engine.connect() as conn:
            result = await store.search(conn, parse_post_query(project=project_id, sort="newest", per_page=20))
        return result["hits"]
    except Exception as exc:  # noqa: BLE001 — the project page shows without its posts rather than fail
        log.warning("project posts unavailable", project_id=project_id, error=f"{type(exc).__name__}: {exc}")
        return []


routes: list = [api_search, api_map, api_skills, api_places, api_get, api_suggestions, api_create, api_update,
                api_close, api_hide, api_unhide, api_report, api_moderation,
                list_page, new_page, new_submit, edit_page, edit_submit, moderation_page, mine_page, post_page,
                close_submit, report_submit, hide_submit, unhide_submit]


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
