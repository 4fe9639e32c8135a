"""Accounts: sign-up, e-mail verification, login/logout, password reset, "Mon compte"; the mail
dispatcher (background task delivering the outbox).

Pages are French and server-rendered; every form carries the CSRF token. Logic lives in
services.gateway.accounts (domain: pure rules; store: SQL; service: transactions)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from litestar import Litestar, MediaType, Request, get, post
from litestar.exceptions import (
    NotAuthorizedException,
)
from litestar.response import Redirect, Response, Template

from services.gateway.accounts import domain, passwords, service, store
from services.gateway.accounts.domain import AccountError
from services.gateway.accounts.http import (
    NO_STORE,
    base_url,
    clear_session,
    client_ip,
    log,
    page,
    read_form,
    set_session,
    settings_of,
    user_json,
)
from services.gateway.accounts.identity import (
    SESSION_COOKIE,
    current_user,
    login_redirect,
    require_login,
)
from services.gateway.web.mailer import Dispatcher, make_transport

LOGIN_LINK_REFUSED = "Ce lien de connexion est inconnu, expiré ou déjà utilisé."
NEW_RESET_LINK = ("/mot-de-passe-oublie", "Demander un nouveau lien")


def _mail_sent(message: str, link: tuple[str, str] = ("/connexion", "Se connecter")) -> Template:
    """« Check your mailbox », after a link was (or, without account enumeration, might have been) mailed."""
    return page("message", title="Vérifiez votre messagerie", message=message, link=link)


def _link_refused(message: str, link: tuple[str, str]) -> Template:
    """A mailed link that is unknown, expired or used: 400, and where to go instead."""
    return page("message", 400, title="Lien non valable", message=message, link=link)


async def _token_open(request: Request, purpose: str, token: str | None) -> bool:
    """Whether ``token`` is a valid, unused ``purpose`` token, without using it up."""
    async with request.app.state.engine.connect() as conn:
        return bool(domain.valid_token(token) and await store.peek_token(conn, purpose, token or ""))


# --------------------------------------------------------------------------- login, logout


@get("/connexion", media_type=MediaType.HTML, include_in_schema=False)
async def login_page(request: Request, next: str | None = None) -> Template:  # noqa: A002
    return page("login", next=domain.safe_next(next), email="", errors={})


def login_policy(cfg) -> domain.LoginPolicy:
    return domain.LoginPolicy(challenge_after=cfg.login_challenge_after, failures_per_ip=cfg.login_failures_per_ip,
                              delay_base_s=cfg.login_delay_base_s)


@post("/connexion", media_type=MediaType.HTML, include_in_schema=False)
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    target = domain.safe_next(form.get("next"))
    email = form.get("email", "")
    cfg = settings_of(request)
    try:
        _, token = await service.login(request.app.state.engine, email, form.get("password", ""), client_ip(request),
                                       request.headers.get("user-agent"),
                                       timedelta(hours=cfg.session_ttl_hours), login_policy(cfg))
    except service.Throttled as exc:
        if exc.reason == "challenge":  # never a lock: the owner of the address gets in by a mailed link
            return page("login", 429, retry_after=exc.retry_after_s, next=target, email=email, challenge=True,
                        errors={"password": "Trop d'essais de mot de passe sur ce compte : pour votre sécurité, "
                                            "connectez-vous avec un lien reçu par e-mail."})
        return page("login", 429, retry_after=exc.retry_after_s, next=target, email=email, errors={
            "password": "Trop de tentatives de connexion depuis votre connexion : réessayez dans un quart d'heure, "
                        "ou réinitialisez votre mot de passe."})
    except passwords.PasswordBusy:
        return page("login", 503, retry_after=passwords.RETRY_AFTER_S, next=target, email=email, errors={
            "password": "Le site est très sollicité : réessayez dans un instant."})
    except AccountError as exc:
        return page("login", 400, next=target, email=email, errors={exc.field: exc.message})
    return set_session(Redirect(target, status_code=303), request, token)


@post("/connexion/lien", media_type=MediaType.HTML, include_in_schema=False)
async def login_link_request(request: Request) -> Template:
    form = await read_form(request)
    try:
        await service.request_login_link(request.app.state.engine, request.app.state.mailer, base_url(request),
                                         form.get("email", ""), client_ip(request))
    except AccountError as exc:
        return page("login", 400, next="/compte", email=form.get("email", ""), challenge=True,
                    errors={exc.field: exc.message})
    return _mail_sent("Si un compte existe pour cette adresse, un lien de connexion vient de lui être envoyé. "
                      "Il est valable une heure, une seule fois.", ("/connexion", "Retour à la connexion"))


@get("/connexion/lien", media_type=MediaType.HTML, include_in_schema=False)
async def login_link_page(request: Request, token: str | None = None) -> Template:
    """A button, not an automatic login: mail scanners that prefetch links log nobody in."""
    if not await _token_open(request, "login", token):
        return _link_refused(LOGIN_LINK_REFUSED, ("/connexion", "Se connecter"))
    return page("login_link", token=token)


@post("/connexion/lien/confirmer", media_type=MediaType.HTML, include_in_schema=False)
async def login_link_confirm(request: Request) -> Response:
    form = await read_form(request)
    done = await service.login_with_link(request.app.state.engine, form.get("token", ""), client_ip(request),
                                         request.headers.get("user-agent"),
                                         timedelta(hours=settings_of(request).session_ttl_hours))
    if done is None:
        return _link_refused(LOGIN_LINK_REFUSED, ("/connexion", "Se connecter"))
    return set_session(Redirect("/compte", status_code=303), request, done[1])


@post("/deconnexion", include_in_schema=False)
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if domain.valid_token(token):
        await service.logout(request.app.state.engine, token)
    return clear_session(Redirect("/", status_code=303))


@get("/api/v1/me", cache_control=NO_STORE, guards=[require_login], summary="The logged-in account (session cookie)")
async def me(request: Request) -> dict[str, Any]:
    user = await current_user(request)
    if user is None:  # the guard said otherwise; keep the type checker and the reader calm
        raise NotAuthorizedException("login required")
    return user_json(user)


# --------------------------------------------------------------------------- sign-up, verification


@get("/inscription", media_type=MediaType.HTML, include_in_schema=False)
async def signup_page(request: Request) -> Template:
    return page("signup", form={}, errors={}, password_min=domain.PASSWORD_MIN)


@post("/inscription", media_type=MediaType.HTML, include_in_schema=False)
async def signup_submit(request: Request) -> Template | Redirect:
    form = await read_form(request)
    shown = {"email": form.get("email", ""), "display_name": form.get("display_name", "")}
    try:
        await service.signup(request.app.state.engine, request.app.state.mailer, base_url(request),
                             form.get("email", ""), form.get("display_name"), form.get("password", ""),
                             form.get("password2", ""), client_ip(request))
    except AccountError as exc:
        return page("signup", 400, form=shown, errors={exc.field: exc.message}, password_min=domain.PASSWORD_MIN)
    return Redirect("/inscription/envoyee", status_code=303)  # post/redirect/get: a refresh sends nothing again


@get("/inscription/envoyee", media_type=MediaType.HTML, include_in_schema=False)
async def signup_sent() -> Template:
    return _mail_sent("Un lien de confirmation vient d'être envoyé à l'adresse indiquée. Ouvrez-le pour activer "
                      "votre compte, puis connectez-vous.")


@get("/verification", media_type=MediaType.HTML, include_in_schema=False)
async def verify(request: Request, token: str | None = None) -> Template:
    user_id = await service.verify_email(request.app.state.engine, token or "")
    if user_id is None:
        return _link_refused("Ce lien de confirmation est inconnu, expiré ou déjà utilisé. Connectez-vous pour en "
                             "recevoir un nouveau depuis « Mon compte ».", ("/compte", "Mon compte"))
    return page("message", title="Adresse confirmée", message="Merci : votre adresse e-mail est confirmée.",
                 link=("/compte", "Mon compte"))


@post("/compte/verification", media_type=MediaType.HTML, include_in_schema=False)
async def resend_verification(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    sent = await service.resend_verification(request.app.state.engine, request.app.state.mailer,
                                             base_url(request), user.id, client_ip(request))
    return Redirect("/compte?renvoi=" + ("ok" if sent else "non"), status_code=303)


# --------------------------------------------------------------------------- password reset


@get("/mot-de-passe-oublie", media_type=MediaType.HTML, include_in_schema=False)
async def forgot_page(request: Request) -> Template:
    return page("forgot", email="", errors={})


@post("/mot-de-passe-oublie", media_type=MediaType.HTML, include_in_schema=False)
async def forgot_submit(request: Request) -> Template | Redirect:
    form = await read_form(request)
    try:
        await service.request_reset(request.app.state.engine, request.app.state.mailer, base_url(request),
                                    form.get("email", ""), client_ip(request))
    except AccountError as exc:
        return page("forgot", 400, email=form.get("email", ""), errors={exc.field: exc.message})
    return Redirect("/mot-de-passe-oublie/envoye", status_code=303)  # post/redirect/get


@get("/mot-de-passe-oublie/envoye", media_type=MediaType.HTML, include_in_schema=False)
async def forgot_sent() -> Template:
    return _mail_sent("Si un compte existe pour cette adresse, un lien pour choisir un nouveau mot de passe vient de "
                      "lui être envoyé. Il est valable une heure.")


@get("/reinitialisation", media_type=MediaType.HTML, include_in_schema=False)
async def reset_page(request: Request, token: str | None = None) -> Template:
    if not await _token_open(request, "reset", token):
        return _link_refused("Ce lien de réinitialisation est inconnu, expiré ou déjà utilisé.", NEW_RESET_LINK)
    return page("reset", token=token, errors={}, password_min=domain.PASSWORD_MIN)


@post("/reinitialisation", media_type=MediaType.HTML, include_in_schema=False)
async def reset_submit(request: Request) -> Template | Redirect:
    form = await read_form(request)
    token = form.get("token", "")
    try:
        await service.reset_password(request.app.state.engine, token, form.get("password", ""),
                                     form.get("password2", ""))
    except AccountError as exc:
        if exc.field == "token":
            return _link_refused(exc.message, NEW_RESET_LINK)
        return page("reset", 400, token=token, errors={exc.field: exc.message}, password_min=domain.PASSWORD_MIN)
    return Redirect("/reinitialisation/faite", status_code=303)  # post/redirect/get


@get("/reinitialisation/faite", media_type=MediaType.HTML, include_in_schema=False)
async def reset_done() -> Template:
    return page("message", title="Mot de passe changé", message=(
        "Votre nouveau mot de passe est enregistré ; vos autres sessions ont été fermées."),
        link=("/connexion", "Se connecter"))


# --------------------------------------------------------------------------- Mon compte


@get("/compte", media_type=MediaType.HTML, include_in_schema=False)
async def account_page(request: Request, renvoi: str | None = None, ok: str | None = None) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    return page("account", user=user, errors={}, resent=renvoi, saved=ok, password_min=domain.PASSWORD_MIN)


@post("/compte", media_type=MediaType.HTML, include_in_schema=False)
async def account_update(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    form = await read_form(request)
    try:
        name = domain.check_display_name(form.get("display_name"), user.email)
    except AccountError as exc:
        return page("account", 400, user=user, errors={exc.field: exc.message}, resent=None, saved=None,
                     password_min=domain.PASSWORD_MIN)
    async with request.app.state.engine.begin() as conn:
        await store.set_display_name(conn, user.id, name)
    return Redirect("/compte?ok=nom", status_code=303)


@post("/compte/mot-de-passe", media_type=MediaType.HTML, include_in_schema=False)
async def account_password(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    form = await read_form(request)
    try:
        await service.change_password(request.app.state.engine, user.id, form.get("current", ""),
                                      form.get("password", ""), form.get("password2", ""),
                                      keep_token=request.cookies.get(SESSION_COOKIE))
    except AccountError as exc:
        return page("account", 400, user=user, errors={exc.field: exc.message}, resent=None, saved=None,
                     password_min=domain.PASSWORD_MIN)
    return Redirect("/compte?ok=motdepasse", status_code=303)


# --------------------------------------------------------------------------- mail dispatcher


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    cfg = app.state.settings
    passwords.configure(cfg.password_hash_memory_kib, cfg.password_hash_time_cost,
                        concurrency=cfg.password_hash_concurrency)
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

routes = [login_page, login_submit, login_link_request, login_link_page, login_link_confirm, logout, me, signup_page,
          signup_submit, signup_sent, verify, resend_verification, forgot_page, forgot_submit, forgot_sent, reset_page,
          reset_submit, reset_done, account_page, account_update, account_password]
