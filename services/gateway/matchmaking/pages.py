"""Matchmaking pages (French) under /annonces: list and map, publish, edit, close, report, moderate."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import MediaType, Request, get, post
from litestar.response import Redirect, Template

from libs.contracts.taxonomy import taxonomy
from services.gateway.accounts.identity import login_redirect
from services.gateway.accounts.throttle import rate_limit
from services.gateway.claims.store import projects_of
from services.gateway.matchmaking import service, store
from services.gateway.matchmaking.domain import (
    CLOSE_REASONS,
    CONTRACT_TYPES,
    FIELD_LABELS,
    KINDS,
    PAY_PERIODS,
    POST_ID,
    REMOTE,
    REPORT_REASONS,
    can_edit,
    skill_label,
    validate_post,
)
from services.gateway.matchmaking.matching import FACET_TITLES
from services.gateway.matchmaking.places import gazetteer
from services.gateway.matchmaking.service import Refused
from services.gateway.matchmaking.skills import labels as skill_labels
from services.gateway.matchmaking.web import (
    FORM_FIELDS,
    NEAR_DEFAULT_KM,
    NEAR_RADII,
    PER_PAGE_HTML,
    SEARCH_PARAMS,
    client_ip,
    form_dict,
    labels_of,
    parse_query,
    request_user,
    search,
    state,
    theme_labels,
    visible_post,
)
from services.gateway.search.rules import QueryError

# --------------------------------------------------------------------------- web pages


def _page(request: Request, name: str, status_code: int = 200, **context) -> Template:
    context.setdefault("kinds", KINDS)
    context.setdefault("back", None)
    context["status_code"] = status_code
    context.update(contract_types=CONTRACT_TYPES, remote_labels=REMOTE, pay_periods=PAY_PERIODS,
                   skill_label=skill_label, theme_labels=theme_labels(), close_reasons=CLOSE_REASONS)
    return Template(f"matchmaking/{name}", context=context, status_code=status_code)


def _error_page(request: Request, exc: Refused) -> Template | Redirect:
    if exc.status == 401:
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
        query = parse_query(request, SEARCH_PARAMS + ("pres", "rayon"), per_page=PER_PAGE_HTML, **geo)
        result = await search(request, query)
    except QueryError as exc:
        error = str(exc)
    facets = result["facets"] if result else {}
    labels = labels_of(facets)
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
                 radii=NEAR_RADII, map_params=urlencode(map_items), user=await request_user(request))


async def _my_projects(request: Request, user) -> list[dict[str, str]]:
    """The projects the user holds (id and title), for the project choice of the form."""
    async with state(request).engine.connect() as conn:
        ids = await projects_of(conn, user.id)
    out = []
    for pid in ids[:100]:
        doc = await state(request).search.get(pid)
        out.append({"id": pid, "title": (doc or {}).get("title") or pid})
    return out


async def _form_page(request: Request, user, values: dict[str, Any], errors: dict[str, str], *, editing=None,
                     status_code: int = 200) -> Template:
    return _page(request, "form.html", status_code=status_code, values=values, errors=errors, editing=editing,
                 projects=await _my_projects(request, user), field_labels=FIELD_LABELS,
                 themes=taxonomy().terms("theme"), skills=skill_labels(), user=user)


@get("/annonces/nouvelle", media_type=MediaType.HTML, include_in_schema=False)
async def new_page(request: Request) -> Template | Redirect:
    user = await request_user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    kind = request.query_params.get("type")
    values = {"kind": kind if kind in KINDS else "", "project_id": request.query_params.get("projet") or ""}
    return await _form_page(request, user, values, {})


@post("/annonces/nouvelle", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def new_submit(request: Request) -> Template | Redirect:
    user = await request_user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    values = form_dict(await request.form())
    draft, errors = validate_post(values, service.paris_today())
    if not errors:
        await rate_limit(request, "posts", f"user:{user.id}", state(request).settings.posts_per_hour, 3600)
        try:
            created = await service.create(state(request).engine, state(request).broker, state(request).search,
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
    user = await request_user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    post_row = await visible_post(request, post_id, user)
    if not can_edit(post_row, user.id):
        return _error_page(request, Refused(403, "Seul l'auteur de l'annonce peut la modifier."))
    return await _form_page(request, user, _values_of(post_row), {}, editing=post_row)


@post("/annonces/{post_id:str}/modifier", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def edit_submit(request: Request, post_id: str) -> Template | Redirect:
    user = await request_user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    post_row = await visible_post(request, post_id, user)
    values = form_dict(await request.form())
    values["kind"] = post_row["kind"]
    draft, errors = validate_post(values, service.paris_today(), kind=post_row["kind"])
    if not errors:
        try:
            await service.update(state(request).engine, state(request).broker, state(request).search, user,
                                 post_id, draft)
            return Redirect(f"/annonces/{post_id}?modifiee=1", status_code=303)
        except Refused as exc:
            if not exc.errors:
                return _error_page(request, exc)
            errors = exc.errors
    return await _form_page(request, user, values, errors, editing=post_row, status_code=400)


@get("/annonces/moderation", media_type=MediaType.HTML, include_in_schema=False)
async def moderation_page(request: Request) -> Template | Redirect:
    user = await request_user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    if not user.has("moderator"):
        return _error_page(request, Refused(403, "Cette page est réservée aux modérateurs."))
    async with state(request).engine.connect() as conn:
        queue = await store.moderation_queue(conn)
    return _page(request, "moderation.html", queue=queue, report_reasons=REPORT_REASONS, user=user)


@get("/annonces/mes-annonces", media_type=MediaType.HTML, include_in_schema=False)
async def mine_page(request: Request) -> Template | Redirect:
    user = await request_user(request)
    if user is None:
        return _error_page(request, Refused(401, ""))
    async with state(request).engine.connect() as conn:
        posts = await store.posts_of_author(conn, user.id)
    return _page(request, "mine.html", posts=posts, user=user)


@get("/annonces/{post_id:str}", media_type=MediaType.HTML, include_in_schema=False)
async def post_page(request: Request, post_id: str) -> Template:
    user = await request_user(request)
    post_row = await visible_post(request, post_id, user)
    got = await service.suggestions(state(request).engine, state(request).search, post_row) \
        if post_row["status"] == "open" and not post_row["hidden"] else {"posts": [], "projects": []}
    flags = {k: request.query_params.get(k) == "1" for k in ("publiee", "modifiee", "close", "signalee", "masquee")}
    return _page(request, "post.html", p=post_row, suggestions=got, user=user, flags=flags,
                 is_author=bool(user and can_edit(post_row, user.id)),
                 is_moderator=bool(user and user.has("moderator")), report_reasons=REPORT_REASONS)


@post("/annonces/{post_id:str}/fermer", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def close_submit(request: Request, post_id: str) -> Template | Redirect:
    user = await request_user(request)
    try:
        if user is not None:
            await visible_post(request, post_id, user)
        await service.close(state(request).engine, state(request).broker, user, post_id)
    except Refused as exc:
        return _error_page(request, exc)
    return Redirect(f"/annonces/{post_id}?close=1", status_code=303)


@post("/annonces/{post_id:str}/signaler", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def report_submit(request: Request, post_id: str) -> Template | Redirect:
    user = await request_user(request)
    form = await request.form()
    reason, details = form.get("reason"), form.get("details")
    try:
        if not POST_ID.match(post_id):
            raise Refused(404, "Annonce introuvable.")
        await service.report(state(request).engine, state(request).broker, user, client_ip(request), post_id,
                             reason if isinstance(reason, str) else "",
                             (details.strip() or None) if isinstance(details, str) else None)
    except Refused as exc:
        if exc.status == 401:  # reports are open to visitors: never a login
            exc = Refused(400, exc.message)
        return _page(request, "error.html", status_code=exc.status, message=exc.message,
                     back=f"/annonces/{post_id}")
    return Redirect(f"/annonces/{post_id}?signalee=1", status_code=303)


async def _moderate_form(request: Request, post_id: str, hidden: bool) -> Template | Redirect:
    user = await request_user(request)
    reason = None
    if hidden:
        raw = (await request.form()).get("reason")
        reason = raw.strip()[:500] or None if isinstance(raw, str) else None
    try:
        if not POST_ID.match(post_id):
            raise Refused(404, "Annonce introuvable.")
        await service.set_hidden(state(request).engine, state(request).broker, user, post_id, hidden, reason)
    except Refused as exc:
        return _error_page(request, exc)
    return Redirect(f"/annonces/{post_id}?masquee={'1' if hidden else '0'}", status_code=303)


@post("/annonces/{post_id:str}/masquer", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def hide_submit(request: Request, post_id: str) -> Template | Redirect:
    return await _moderate_form(request, post_id, True)


@post("/annonces/{post_id:str}/demasquer", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def unhide_submit(request: Request, post_id: str) -> Template | Redirect:
    return await _moderate_form(request, post_id, False)

routes: list = [list_page, new_page, new_submit, edit_page, edit_submit, moderation_page, mine_page, post_page,
                close_submit, report_submit, hide_submit, unhide_submit]
