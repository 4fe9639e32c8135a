"""Accounts: sign-up, e-mail verification, login/logout, password reset, "Mon compte"; the operator's
partner organisations, partner users, API keys and moderator grants (pages and JSON API); the mail
dispatcher (background task delivering the outbox).

Pages are French and server-rendered; every form carries the CSRF token. Logic lives in
``services.gateway.accounts`` (domain: pure rules; store: SQL; service: transactions)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import structlog
from litestar import Litestar, MediaType, Request, get, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.response import Redirect, Response, Template
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.accounts import domain, operator, service, store
from services.gateway.accounts.domain import AccountError
from services.gateway.accounts.identity import (
    SESSION_COOKIE,
    User,
    current_user,
    login_redirect,
    require_login,
    require_role,
)
from services.gateway.adapters.keys import ApiKey
from services.gateway.controllers.auth import require_scope
from services.gateway.adapters.mailer import Dispatcher, make_transport

log = structlog.get_logger()
MAX_FIELD = 1000
NO_STORE = CacheControlHeader(no_store=True)


# --------------------------------------------------------------------------- helpers


def _cfg(request: Request):
    return request.app.state.settings


def _ip(request: Request) -> str:
    return (request.client.host if request.client else None) or "unknown"


def _base_url(request: Request) -> str:
    return _cfg(request).public_base_url or str(request.base_url).rstrip("/")


async def _form(request: Request) -> dict[str, str]:
    """The submitted form's single values, bounded; a field too long is emptied (and so refused)."""
    form = await request.form()
    out: dict[str, str] = {}
    for key in form:
        value = form.get(key)
        ok = isinstance(value, str) and len(value) <= MAX_FIELD and "\x00" not in value
        out[key] = value if ok else ""
    return out


def _page(name: str, status: int = 200, **context: Any) -> Template:
    return Template(f"accounts/{name}.html", context=context, status_code=status,
                    headers={"cache-control": "no-store"})


def _set_session(response: Response, request: Request, token: str) -> Response:
    cfg = _cfg(request)
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="lax",
                        secure=domain.cookie_secure(cfg.session_cookie_secure, request.url.hostname or "",
                                                    request.url.scheme),
                        max_age=int(cfg.session_ttl_hours * 3600))
    return response


def _clear_session(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "display_name": user.display_name, "roles": sorted(user.roles),
            "partner": user.partner, "email_verified": user.email_verified}


# --------------------------------------------------------------------------- login, logout


@get("/connexion", media_type=MediaType.HTML, include_in_schema=False)
async def login_page(request: Request, next: str | None = None) -> Template:  # noqa: A002
    return _page("login", next=domain.safe_next(next), email="", errors={})


@post("/connexion", media_type=MediaType.HTML, include_in_schema=False)
async def login_submit(request: Request) -> Response:
    form = await _form(request)
    target = domain.safe_next(form.get("next"))
    email = form.get("email", "")
    try:
        _, token = await service.login(request.app.state.engine, email, form.get("password", ""), _ip(request),
                                       request.headers.get("user-agent"),
                                       timedelta(hours=_cfg(request).session_ttl_hours))
    except service.Throttled:
        return _page("login", 429, next=target, email=email, errors={
            "password": "Trop de tentatives de connexion : réessayez dans un quart d'heure, "
                        "ou réinitialisez votre mot de passe."})
    except AccountError as exc:
        return _page("login", 400, next=target, email=email, errors={exc.field: exc.message})
    return _set_session(Redirect(target, status_code=303), request, token)


@post("/deconnexion", include_in_schema=False)
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if domain.valid_token(token):
        await service.logout(request.app.state.engine, token)
    return _clear_session(Redirect("/", status_code=303))


@get("/api/v1/me", cache_control=NO_STORE, guards=[require_login], summary="The logged-in account (session cookie)")
async def me(request: Request) -> dict[str, Any]:
    user = await current_user(request)
    if user is None:  # the guard said otherwise; keep the type checker and the reader calm
        raise NotAuthorizedException("login required")
    return user_json(user)


# --------------------------------------------------------------------------- sign-up, verification


@get("/inscription", media_type=MediaType.HTML, include_in_schema=False)
async def signup_page(request: Request) -> Template:
    return _page("signup", form={}, errors={}, password_min=domain.PASSWORD_MIN)


@post("/inscription", media_type=MediaType.HTML, include_in_schema=False)
async def signup_submit(request: Request) -> Template:
    form = await _form(request)
    shown = {"email": form.get("email", ""), "display_name": form.get("display_name", "")}
    try:
        await service.signup(request.app.state.engine, request.app.state.mailer, _base_url(request),
                             form.get("email", ""), form.get("display_name"), form.get("password", ""),
                             form.get("password2", ""), _ip(request))
    except AccountError as exc:
        return _page("signup", 400, form=shown, errors={exc.field: exc.message}, password_min=domain.PASSWORD_MIN)
    return _page("message", title="Vérifiez votre messagerie", message=(
        f"Un lien de confirmation vient d'être envoyé à {shown['email']}. Ouvrez-le pour activer votre compte, "
        "puis connectez-vous."), link=("/connexion", "Se connecter"))


@get("/verification", media_type=MediaType.HTML, include_in_schema=False)
async def verify(request: Request, token: str | None = None) -> Template:
    user_id = await service.verify_email(request.app.state.engine, token or "")
    if user_id is None:
        return _page("message", 400, title="Lien non valable", message=(
            "Ce lien de confirmation est inconnu, expiré ou déjà utilisé. Connectez-vous pour en recevoir un nouveau "
            "depuis « Mon compte »."), link=("/compte", "Mon compte"))
    return _page("message", title="Adresse confirmée", message="Merci : votre adresse e-mail est confirmée.",
                 link=("/compte", "Mon compte"))


@post("/compte/verification", media_type=MediaType.HTML, include_in_schema=False)
async def resend_verification(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    sent = await service.resend_verification(request.app.state.engine, request.app.state.mailer,
                                             _base_url(request), user.id, _ip(request))
    return Redirect("/compte?renvoi=" + ("ok" if sent else "non"), status_code=303)


# --------------------------------------------------------------------------- password reset


@get("/mot-de-passe-oublie", media_type=MediaType.HTML, include_in_schema=False)
async def forgot_page(request: Request) -> Template:
    return _page("forgot", email="", errors={})


@post("/mot-de-passe-oublie", media_type=MediaType.HTML, include_in_schema=False)
async def forgot_submit(request: Request) -> Template:
    form = await _form(request)
    try:
        await service.request_reset(request.app.state.engine, request.app.state.mailer, _base_url(request),
                                    form.get("email", ""), _ip(request))
    except AccountError as exc:
        return _page("forgot", 400, email=form.get("email", ""), errors={exc.field: exc.message})
    return _page("message", title="Vérifiez votre messagerie", message=(
        "Si un compte existe pour cette adresse, un lien pour choisir un nouveau mot de passe vient de lui être "
        "envoyé. Il est valable une heure."), link=("/connexion", "Se connecter"))


@get("/reinitialisation", media_type=MediaType.HTML, include_in_schema=False)
async def reset_page(request: Request, token: str | None = None) -> Template:
    async with request.app.state.engine.connect() as conn:
        valid = domain.valid_token(token) and await store.peek_token(conn, "reset", token or "")
    if not valid:
        return _page("message", 400, title="Lien non valable", message=(
            "Ce lien de réinitialisation est inconnu, expiré ou déjà utilisé."),
            link=("/mot-de-passe-oublie", "Demander un nouveau lien"))
    return _page("reset", token=token, errors={}, password_min=domain.PASSWORD_MIN)


@post("/reinitialisation", media_type=MediaType.HTML, include_in_schema=False)
async def reset_submit(request: Request) -> Template:
    form = await _form(request)
    token = form.get("token", "")
    try:
        await service.reset_password(request.app.state.engine, token, form.get("password", ""),
                                     form.get("password2", ""))
    except AccountError as exc:
        if exc.field == "token":
            return _page("message", 400, title="Lien non valable", message=exc.message,
                         link=("/mot-de-passe-oublie", "Demander un nouveau lien"))
        return _page("reset", 400, token=token, errors={exc.field: exc.message}, password_min=domain.PASSWORD_MIN)
    return _page("message", title="Mot de passe changé", message=(
        "Votre nouveau mot de passe est enregistré ; vos autres sessions ont été fermées."),
        link=("/connexion", "Se connecter"))


# --------------------------------------------------------------------------- Mon compte


@get("/compte", media_type=MediaType.HTML, include_in_schema=False)
async def account_page(request: Request, renvoi: str | None = None, ok: str | None = None) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    return _page("account", user=user, errors={}, resent=renvoi, saved=ok, password_min=domain.PASSWORD_MIN)


@post("/compte", media_type=MediaType.HTML, include_in_schema=False)
async def account_update(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    form = await _form(request)
    try:
        name = domain.check_display_name(form.get("display_name"), user.email)
    except AccountError as exc:
        return _page("account", 400, user=user, errors={exc.field: exc.message}, resent=None, saved=None,
                     password_min=domain.PASSWORD_MIN)
    async with request.app.state.engine.begin() as conn:
        await store.set_display_name(conn, user.id, name)
    return Redirect("/compte?ok=nom", status_code=303)


@post("/compte/mot-de-passe", media_type=MediaType.HTML, include_in_schema=False)
async def account_password(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    form = await _form(request)
    try:
        await service.change_password(request.app.state.engine, user.id, form.get("current", ""),
                                      form.get("password", ""), form.get("password2", ""),
                                      keep_token=request.cookies.get(SESSION_COOKIE))
    except AccountError as exc:
        return _page("account", 400, user=user, errors={exc.field: exc.message}, resent=None, saved=None,
                     password_min=domain.PASSWORD_MIN)
    return Redirect("/compte?ok=motdepasse", status_code=303)


# --------------------------------------------------------------------------- operator: JSON API

OPERATOR = [require_role("operator")]


class OrgIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(min_length=1, max_length=64, description="the source slug the crawler and ingest use")
    name: str = Field(min_length=1, max_length=200)


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[str] = Field(default_factory=lambda: ["ingest"], min_length=1, max_length=2)
    label: str | None = Field(None, max_length=100)


class _Api:
    """Maps operator errors to HTTP answers."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, AccountError):
            raise ValidationException(exc.message) from None
        if isinstance(exc, operator.NotFound):
            raise NotFoundException("not found") from None
        if isinstance(exc, operator.Conflict):
            raise ClientException(str(exc), status_code=409) from None
        return False


async def _actor(request: Request) -> int:
    user = await current_user(request)
    if user is None:
        raise NotAuthorizedException("login required")
    return user.id


@get("/api/v1/operator/partners", cache_control=NO_STORE, guards=OPERATOR, summary="Partner organisations (operators)")
async def api_orgs(request: Request) -> dict[str, Any]:
    orgs = await operator.list_orgs(request.app.state.engine)
    return {"total": len(orgs), "partners": orgs}


@post("/api/v1/operator/partners", guards=OPERATOR, status_code=201,
      summary="Create a partner organisation; its slug is the source it may push (operators)")
async def api_create_org(request: Request, data: OrgIn) -> dict[str, Any]:
    with _Api():
        return await operator.create_org(request.app.state.engine, await _actor(request), data.slug, data.name)


@get("/api/v1/operator/partners/{slug:str}", cache_control=NO_STORE, guards=OPERATOR, summary="A partner organisation, its users and keys")
async def api_org(request: Request, slug: str) -> dict[str, Any]:
    with _Api():
        return await operator.org_detail(request.app.state.engine, slug)


@post("/api/v1/operator/partners/{slug:str}/users", guards=OPERATOR, status_code=200,
      summary="Attach an existing account to a partner organisation (operators)")
async def api_attach(request: Request, slug: str, data: EmailIn) -> dict[str, Any]:
    with _Api():
        return await operator.attach_user(request.app.state.engine, await _actor(request), slug, data.email)


@post("/api/v1/operator/partners/{slug:str}/users/{user_id:int}/detach", guards=OPERATOR, status_code=200,
      summary="Detach a partner user (operators)")
async def api_detach(request: Request, slug: str, user_id: int) -> dict[str, Any]:
    with _Api():
        await operator.detach_user(request.app.state.engine, await _actor(request), slug, user_id)
    return {"detached": user_id}


@post("/api/v1/operator/partners/{slug:str}/keys", guards=OPERATOR, status_code=201,
      summary="Issue an API key (scopes ingest, read); the key is in this answer only (operators)")
async def api_issue_key(request: Request, slug: str, data: KeyIn) -> Response:
    with _Api():
        out = await operator.issue_key(request.app.state.engine, await _actor(request), slug, data.scopes, data.label)
    return Response(out, status_code=201, headers={"cache-control": "no-store"})


@post("/api/v1/operator/partners/{slug:str}/keys/{key_id:int}/revoke", guards=OPERATOR, status_code=200,
      summary="Revoke an API key (operators)")
async def api_revoke_key(request: Request, slug: str, key_id: int) -> dict[str, Any]:
    with _Api():
        await operator.revoke_key(request.app.state.engine, await _actor(request), slug, key_id)
    return {"revoked": key_id}


@get("/api/v1/operator/moderators", cache_control=NO_STORE, guards=OPERATOR, summary="Accounts with the moderator role (operators)")
async def api_moderators(request: Request) -> dict[str, Any]:
    return {"moderators": await operator.list_moderators(request.app.state.engine)}


@post("/api/v1/operator/moderators", guards=OPERATOR, status_code=200, summary="Grant the moderator role (operators)")
async def api_grant_moderator(request: Request, data: EmailIn) -> dict[str, Any]:
    with _Api():
        return await operator.grant_moderator(request.app.state.engine, await _actor(request), data.email)


@post("/api/v1/operator/moderators/{user_id:int}/revoke", guards=OPERATOR, status_code=200,
      summary="Withdraw the moderator role (operators)")
async def api_revoke_moderator(request: Request, user_id: int) -> dict[str, Any]:
    with _Api():
        await operator.revoke_moderator(request.app.state.engine, await _actor(request), user_id)
    return {"revoked": user_id}


@get("/api/v1/partner/me", cache_control=NO_STORE, guards=[require_scope("read")],
     summary="The organisation of the presented API key (read scope): name and keys by prefix")
async def api_partner_self(request: Request) -> dict[str, Any]:
    key: ApiKey = request.state.api_key
    try:
        detail = await operator.org_detail(request.app.state.engine, key.partner)
    except operator.NotFound:
        return {"slug": key.partner, "name": None, "keys": []}
    return {"slug": detail["slug"], "name": detail["name"],
            "keys": [k for k in detail["keys"] if k["revoked_at"] is None]}


# --------------------------------------------------------------------------- operator: pages


async def _staff(request: Request, role: str) -> tuple[User | None, Response | None]:
    """(user, None) when the user has ``role``; else (None, a login redirect or a 403 page)."""
    user = await current_user(request)
    if user is None:
        return None, login_redirect(request)
    if not user.has(role):
        return None, _page("message", 403, title="Accès refusé",
                           message="Cette page est réservée à l'équipe de Carrefour.", link=("/", "Accueil"))
    return user, None


def _not_found() -> Template:
    return _page("message", 404, title="Introuvable", message="Cette organisation ou cet élément n'existe pas.",
                 link=("/operateur/partenaires", "Partenaires"))


@get("/operateur/partenaires", media_type=MediaType.HTML, include_in_schema=False)
async def orgs_page(request: Request) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    return _page("operator_orgs", orgs=await operator.list_orgs(request.app.state.engine), form={}, errors={})


@post("/operateur/partenaires", media_type=MediaType.HTML, include_in_schema=False)
async def orgs_create(request: Request) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    form = await _form(request)
    try:
        org = await operator.create_org(request.app.state.engine, user.id, form.get("slug", ""), form.get("name", ""))
    except (AccountError, operator.Conflict) as exc:
        errors = {exc.field: exc.message} if isinstance(exc, AccountError) else {"slug": str(exc)}
        return _page("operator_orgs", 400, orgs=await operator.list_orgs(request.app.state.engine), form=form,
                     errors=errors)
    return Redirect(f"/operateur/partenaires/{org['slug']}", status_code=303)


async def _org_page(request: Request, slug: str, status: int = 200, **extra: Any) -> Template:
    try:
        org = await operator.org_detail(request.app.state.engine, slug)
    except operator.NotFound:
        return _not_found()
    context = {"org": org, "errors": {}, "new_key": None, "scopes": domain.ISSUABLE_SCOPES, "done": None}
    context.update(extra)
    return _page("operator_org", status, **context)


@get("/operateur/partenaires/{slug:str}", media_type=MediaType.HTML, include_in_schema=False)
async def org_page(request: Request, slug: str, ok: str | None = None) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    return await _org_page(request, slug, done=ok)


async def _org_action(request: Request, slug: str, action) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    try:
        done = await action(user)
    except AccountError as exc:
        return await _org_page(request, slug, 400, errors={exc.field: exc.message})
    except operator.NotFound:
        return _not_found()
    if isinstance(done, Response):
        return done
    return Redirect(f"/operateur/partenaires/{slug}?ok={done}", status_code=303)


@post("/operateur/partenaires/{slug:str}/utilisateurs", media_type=MediaType.HTML, include_in_schema=False)
async def org_attach(request: Request, slug: str) -> Response:
    form = await _form(request)

    async def action(user: User) -> str:
        await operator.attach_user(request.app.state.engine, user.id, slug, form.get("email", ""))
        return "utilisateur"

    return await _org_action(request, slug, action)


@post("/operateur/partenaires/{slug:str}/utilisateurs/{user_id:int}/retirer", media_type=MediaType.HTML,
      include_in_schema=False)
async def org_detach(request: Request, slug: str, user_id: int) -> Response:
    async def action(user: User) -> str:
        await operator.detach_user(request.app.state.engine, user.id, slug, user_id)
        return "retire"

    return await _org_action(request, slug, action)


@post("/operateur/partenaires/{slug:str}/cles", media_type=MediaType.HTML, include_in_schema=False)
async def org_issue_key(request: Request, slug: str) -> Response:
    raw = await request.form()
    scopes = [s for s in raw.getall("scopes", []) if isinstance(s, str)][:5]
    label = raw.get("label") if isinstance(raw.get("label"), str) else None

    async def action(user: User) -> Response:
        issued = await operator.issue_key(request.app.state.engine, user.id, slug, scopes, (label or "")[:MAX_FIELD])
        page = await _org_page(request, slug, new_key=issued)
        return page  # shown once: not a redirect, never in a URL

    return await _org_action(request, slug, action)


@post("/operateur/partenaires/{slug:str}/cles/{key_id:int}/revoquer", media_type=MediaType.HTML,
      include_in_schema=False)
async def org_revoke_key(request: Request, slug: str, key_id: int) -> Response:
    async def action(user: User) -> str:
        await operator.revoke_key(request.app.state.engine, user.id, slug, key_id)
        return "revoquee"

    return await _org_action(request, slug, action)


@get("/operateur/moderateurs", media_type=MediaType.HTML, include_in_schema=False)
async def moderators_page(request: Request, ok: str | None = None) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    return _page("operator_moderators", moderators=await operator.list_moderators(request.app.state.engine),
                 errors={}, email="", done=ok)


@post("/operateur/moderateurs", media_type=MediaType.HTML, include_in_schema=False)
async def moderators_grant(request: Request) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    form = await _form(request)
    try:
        await operator.grant_moderator(request.app.state.engine, user.id, form.get("email", ""))
    except AccountError as exc:
        return _page("operator_moderators", 400, moderators=await operator.list_moderators(request.app.state.engine),
                     errors={exc.field: exc.message}, email=form.get("email", ""), done=None)
    return Redirect("/operateur/moderateurs?ok=ajoute", status_code=303)


@post("/operateur/moderateurs/{user_id:int}/retirer", media_type=MediaType.HTML, include_in_schema=False)
async def moderators_revoke(request: Request, user_id: int) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    try:
        await operator.revoke_moderator(request.app.state.engine, user.id, user_id)
    except operator.NotFound:
        return _page("message", 404, title="Introuvable", message="Ce compte n'est pas modérateur.",
                     link=("/operateur/moderateurs", "Modérateurs"))
    return Redirect("/operateur/moderateurs?ok=retire", status_code=303)


@get("/moderation", media_type=MediaType.HTML, include_in_schema=False)
async def moderation_hub(request: Request) -> Response:
    user, denied = await _staff(request, "moderator")
    if denied:
        return denied
    return _page("moderation")


# --------------------------------------------------------------------------- mail dispatcher


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    cfg = app.state.settings
    mailer = app.state.mailer
    dispatcher = Dispatcher(app.state.engine, make_transport(cfg), cfg.mail_from, cfg.mail_domain,
                            wakeup=mailer.wakeup, interval_s=1.0)

    async def housekeeping() -> None:
        while True:
            await asyncio.sleep(3600)
            try:
                async with app.state.engine.begin() as conn:
                    await store.purge_expired(conn)
            except Exception as exc:  # noqa: BLE001
                log.warning("accounts housekeeping failed", error=type(exc).__name__)

    tasks = [asyncio.create_task(dispatcher.run(), name="outbox-dispatcher"),
             asyncio.create_task(housekeeping(), name="accounts-housekeeping")]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


routes = [login_page, login_submit, logout, me, signup_page, signup_submit, verify, resend_verification,
          forgot_page, forgot_submit, reset_page, reset_submit, account_page, account_update, account_password,
          api_orgs, api_create_org, api_org, api_attach, api_detach, api_issue_key, api_revoke_key, api_moderators,
          api_grant_moderator, api_revoke_moderator, api_partner_self,
          orgs_page, orgs_create, org_page, org_attach, org_detach, org_issue_key, org_revoke_key,
          moderators_page, moderators_grant, moderators_revoke, moderation_hub]
