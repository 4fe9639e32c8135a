"""Saved searches and alerts, the pages (French): save the current search (``/alertes/nouvelle?<the
search's parameters>``), list and delete my alerts (``/alertes``), unsubscribe in one click from the
digest's link (``/alertes/desabonnement/<signed token>``, no login; mail clients may POST it
directly, RFC 8058), and the Atom feed of any search for people without an account
(``/alertes/flux.atom?<parameters>``, in ``feed.py``)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get, post
from litestar.response import Redirect, Response, Template

from services.gateway.accounts.identity import current_user, login_redirect
from services.gateway.alerts import rules, service, store
from services.gateway.search.params import FACET_TITLES, labels_of

TOKEN_MAX = 60


def _describe(pairs) -> str:
    return rules.describe(pairs, labels_of({}), FACET_TITLES)


def _pairs(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k in rules.SAVED_PARAMS]


def _page(template: str, status_code: int = 200, **context: Any) -> Template:
    return Template(f"alerts/{template}", status_code=status_code, headers={"cache-control": "no-store"},
                    context={"frequencies": rules.FREQUENCY_LABELS, "max_searches": rules.MAX_SEARCHES_PER_USER,
                             **context})


async def _mine(request: Request, user, **context: Any) -> Template:
    async with request.app.state.engine.connect() as conn:
        mine = await store.of_user(conn, user.id)
    for saved in mine:
        saved["description"] = _describe(saved["params"])
        saved["query"] = saved["params"]
    return _page("list.html", searches=mine, **context)


@get("/alertes", media_type=MediaType.HTML, include_in_schema=False)
async def list_page(request: Request) -> Template | Redirect:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    return await _mine(request, user, notice=request.query_params.get("ok"))


@get("/alertes/nouvelle", media_type=MediaType.HTML, include_in_schema=False)
async def new_page(request: Request) -> Template | Redirect:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    pairs = _pairs(request)
    return _page("new.html", pairs=pairs, description=_describe(pairs), name=request.query_params.get("q") or "",
                 frequency="weekly", error=None)


@post("/alertes", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def create_submit(request: Request) -> Template | Redirect:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if k in rules.SAVED_PARAMS and isinstance(v, str)]
    name, frequency = str(form.get("name") or ""), str(form.get("frequency") or "")
    try:
        await service.create(request.app.state.engine, user, name, pairs, frequency)
    except service.Refused as exc:
        return _page("new.html", status_code=exc.status, pairs=pairs, description=_describe(pairs), name=name[:100],
                     frequency=frequency, error=exc.message)
    return Redirect("/alertes?ok=1", status_code=303)


@post("/alertes/{search_id:int}/supprimer", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def delete_submit(request: Request, search_id: int) -> Template | Redirect:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    try:
        await service.delete(request.app.state.engine, user, search_id)
    except service.Refused as exc:
        return Template("accounts/message.html", status_code=exc.status,
                        context={"title": "Impossible", "message": exc.message, "link": ("/alertes", "Mes alertes")})
    return Redirect("/alertes", status_code=303)


def _key(request: Request) -> str:
    return service.signing_key(request.app.state.settings)


@get("/alertes/desabonnement/{token:str}", media_type=MediaType.HTML, include_in_schema=False)
async def unsubscribe_page(request: Request, token: str) -> Template:
    """A page with one button: mail scanners that prefetch links unsubscribe nobody."""
    saved = await service.check_token(request.app.state.engine, _key(request), token[:TOKEN_MAX])
    if saved is None:
        return _page("unsubscribe.html", status_code=404, saved=None, token=None, done=False)
    return _page("unsubscribe.html", saved=saved, token=token, done=not saved["active"],
                 description=_describe(saved["params"]))


@post("/alertes/desabonnement/{token:str}", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def unsubscribe_submit(request: Request, token: str) -> Response:
    """The button, and RFC 8058 one-click unsubscription from mail clients (no cookie, no CSRF
    token: the signed token is the authority)."""
    saved = await service.unsubscribe(request.app.state.engine, _key(request), token[:TOKEN_MAX])
    if saved is None:
        return _page("unsubscribe.html", status_code=404, saved=None, token=None, done=False)
    return _page("unsubscribe.html", saved=saved, token=token, done=True, description=_describe(saved["params"]))


routes = [list_page, new_page, create_submit, delete_submit, unsubscribe_page, unsubscribe_submit]
