"""Reports about a project (French pages): the visitor's form (``/projets/{id}/signaler``, also a
panel of the project page) and the moderators' queue (``/moderation/signalements``). Every form
answers with a redirect (post/redirect/get); CSRF as every form of the site; rate-limited per
connection (rules.LIMITS)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from services.gateway.accounts.identity import current_user, login_redirect
from services.gateway.reports import rules, service

NO_STORE = {"cache-control": "no-store"}
QUEUE = "/moderation/signalements"


def _ctx(request: Request) -> service.Ctx:
    state = request.app.state
    cfg = getattr(state, "settings", None)
    base = (getattr(cfg, "public_base_url", None) or str(request.base_url)).rstrip("/")
    return service.Ctx(engine=state.engine, search=state.search, broker=state.broker, mailer=state.mailer,
                       base_url=base)


def _field(form: Any, key: str) -> str | None:
    value = form.get(key)
    return value if isinstance(value, str) else None


def form_context(doc: dict[str, Any] | None, values: dict[str, Any] | None = None,
                 errors: dict[str, str] | None = None) -> dict[str, Any]:
    """What the report form needs (the project page includes it too)."""
    return {"report_kinds": rules.KINDS, "report_values": values or {}, "report_errors": errors or {},
            "report_doc": doc}


@get("/projets/{project_id:str}/signaler", media_type=MediaType.HTML, include_in_schema=False)
async def report_form(request: Request, project_id: str) -> Template:
    doc = await request.app.state.search.get(project_id) if rules.PROJECT_ID.match(project_id) else None
    if doc is None:
        return Template("accounts/message.html", status_code=404, headers=NO_STORE,
                        context={"title": "Introuvable", "message": "Ce projet n'existe pas.", "link": ("/", "Accueil")})
    return Template("reports/form.html", headers=NO_STORE, context={"doc": doc, **form_context(doc)})


@post("/projets/{project_id:str}/signaler", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def report_send(request: Request, project_id: str) -> Template | Redirect:
    form = await request.form()
    values = {k: _field(form, k) for k in ("kind", "detail", "duplicate_of", "email", "website")}
    user = await current_user(request)
    ip = request.client.host if request.client else None
    try:
        await service.report(_ctx(request), project_id, values, ip, user)
    except service.ReportError as exc:
        doc = await request.app.state.search.get(project_id) if exc.status != 404 else None
        if doc is None:
            return Template("accounts/message.html", status_code=exc.status, headers=NO_STORE,
                            context={"title": "Introuvable", "message": exc.message, "link": ("/", "Accueil")})
        return Template("reports/form.html", status_code=exc.status, headers=NO_STORE,
                        context={"doc": doc, "summary": exc.message, **form_context(doc, values, exc.errors)})
    return Redirect(f"/projets/{project_id}?signalement=merci", status_code=303)


async def _moderator(request: Request) -> tuple[Any, Template | Redirect | None]:
    user = await current_user(request)
    if user is None:
        return None, login_redirect(request)
    if not user.has("moderator"):
        return user, Template("accounts/message.html", status_code=403, headers=NO_STORE,
                              context={"title": "Accès refusé", "message": "Cette page est réservée à la modération.",
                                       "link": ("/", "Accueil")})
    return user, None


@get(QUEUE, media_type=MediaType.HTML, include_in_schema=False)
async def queue_page(request: Request, fait: Annotated[str | None, Parameter(max_length=20)] = None,
                     page: Annotated[int, Parameter(ge=1, le=10_000)] = 1) -> Template | Redirect:
    _user, denied = await _moderator(request)
    if denied:
        return denied
    items, total = await service.queue(request.app.state.engine, page)
    return Template("reports/queue.html", headers=NO_STORE, context={
        "items": items, "total": total, "page": page, "more": total > page * rules.PAGE_SIZE,
        "kinds": rules.KINDS, "done": rules.DECISIONS.get(fait or ""), "error": None})


@post(f"{QUEUE}/{{report_id:int}}/decision", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def decide(request: Request, report_id: int) -> Template | Redirect:
    user, denied = await _moderator(request)
    if denied:
        return denied
    form = await request.form()
    try:
        await service.decide(_ctx(request), user, report_id, _field(form, "decision"), _field(form, "note"))
    except (service.ReportError, rules.DecisionError) as exc:
        status = exc.status if isinstance(exc, service.ReportError) else 400
        items, total = await service.queue(request.app.state.engine)
        return Template("reports/queue.html", status_code=status, headers=NO_STORE, context={
            "items": items, "total": total, "page": 1, "more": total > rules.PAGE_SIZE, "kinds": rules.KINDS,
            "done": None, "error": getattr(exc, "message", str(exc))})
    return Redirect(f"{QUEUE}?fait={_field(form, 'decision')}", status_code=303)


routes = [report_form, report_send, queue_page, decide]
