"""Contact pages (French): /contact/projet/{id}, /contact/annonce/{id} (form), /messages (list),
/messages/{id} (conversation), /conversation/{token} (an anonymous visitor's secret link),
/moderation/messages (reports, hide/unhide)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get, post
from litestar.response import Redirect, Template

from services.gateway.accounts.identity import (
    current_user,
    login_redirect,
)
from services.gateway.contact import domain, store, targets
from services.gateway.contact.http import (
    KINDS,
    Id,
    ip,
    moderate,
    party_conversation,
    request_ctx,
)
from services.gateway.contact.service import (
    ContactError,
    confirm,
    reply,
    report,
    send_first,
)

# --------------------------------------------------------------------------- pages


def _page(name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(f"contact/{name}", context=context, status_code=status_code)


async def _target_title(request: Request, kind: str, target_id: str) -> str | None:
    if not domain.TARGET_ID.match(target_id):
        return None
    async with request.app.state.engine.connect() as conn:
        target = await targets.resolve(conn, request.app.state.search, kind, target_id)
    return target.title if target else None


def _back_url(kind: str, target_id: str) -> str:
    return f"/projets/{target_id}" if kind == "project" else f"/annonces/{target_id}"


@get("/contact/{kind:str}/{target_id:str}", media_type=MediaType.HTML, include_in_schema=False)
async def contact_form(request: Request, kind: str, target_id: str) -> Template:
    real = KINDS.get(kind)
    title = await _target_title(request, real, target_id) if real else None
    if title is None:
        return _page("unavailable.html", 404)
    return _page("form.html", kind=kind, target_id=target_id, title=title, values={}, errors={},
                 back=_back_url(real, target_id))


@post("/contact/{kind:str}/{target_id:str}", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def contact_submit(request: Request, kind: str, target_id: str) -> Template:
    real = KINDS.get(kind)
    if real is None:
        return _page("unavailable.html", 404)
    form = await request.form()
    values = {k: str(form.get(k) or "")[:domain.BODY_MAX * 2] for k in ("name", "email", "body", "site_web")}
    try:
        sent = await send_first(request_ctx(request), kind=real, target_id=target_id, name=values["name"],
                                email=values["email"], body=values["body"], honeypot=values["site_web"],
                                ip=ip(request), user=await current_user(request))
    except ContactError as exc:
        if exc.status == 404:
            return _page("unavailable.html", 404)
        title = await _target_title(request, real, target_id) or target_id
        errors = exc.errors or {"form": exc.message}
        return _page("form.html", exc.status, kind=kind, target_id=target_id, title=title, values=values,
                     errors=errors, summary=exc.message, back=_back_url(real, target_id))
    return _page("sent.html", 200, status=("pending" if sent.status in ("pending", "ignored") else "sent"),
                 conversation_id=sent.conversation_id, back=_back_url(real, target_id))


@get("/messages", media_type=MediaType.HTML, include_in_schema=False)
async def my_conversations(request: Request) -> Template | Redirect:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    async with request.app.state.engine.connect() as conn:
        rows = await store.conversations_of(conn, user.id)
    return _page("list.html", conversations=rows)


async def _render_conversation(request: Request, conv: dict[str, Any], role: str, *, action: str,
                               errors: dict[str, str] | None = None, status: int = 200, notice: str | None = None,
                               values: dict[str, str] | None = None) -> Template:
    async with request.app.state.engine.connect() as conn:
        msgs = await store.messages(conn, conv["id"])
    return _page("conversation.html", status, conv=conv, role=role, messages=msgs, action=action,
                 errors=errors or {}, notice=notice, values=values or {},
                 back=_back_url(conv["target_kind"], conv["target_id"]))


@get("/messages/{conversation_id:int}", media_type=MediaType.HTML, include_in_schema=False)
async def conversation_page(request: Request, conversation_id: Id) -> Template | Redirect:
    if await current_user(request) is None:
        return login_redirect(request)
    try:
        conv, role = await party_conversation(request, conversation_id)
    except ContactError as exc:
        return _page("unavailable.html", exc.status, message=exc.message)
    return await _render_conversation(request, conv, role, action=f"/messages/{conv['id']}",
                                      notice=request.query_params.get("ok") and "Votre réponse est envoyée.")


async def _post_in_conversation(request: Request, conv: dict[str, Any], role: str, action: str,
                                reporter_user: int | None, op: str, message_id: int | None) -> Template | Redirect:
    form = await request.form()
    ctx = request_ctx(request)
    try:
        if op == "reply":
            await reply(ctx, conv["id"], role, str(form.get("body") or "")[:domain.BODY_MAX * 2], channel="web",
                        ip=ip(request))
            return Redirect(f"{action}?ok=1", status_code=303)
        await report(ctx, conv["id"], message_id or 0, role, reporter_user, str(form.get("reason") or ""))
        return await _render_conversation(request, conv, role, action=action,
                                          notice="Message signalé à la modération. Merci.")
    except ContactError as exc:
        return await _render_conversation(request, conv, role, action=action, status=exc.status,
                                          errors=exc.errors or {"form": exc.message},
                                          values={"body": str(form.get("body") or "")[:domain.BODY_MAX * 2]})


@post("/messages/{conversation_id:int}/repondre", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def conversation_reply(request: Request, conversation_id: Id) -> Template | Redirect:
    return await _party_action(request, conversation_id, "reply", None)


@post("/messages/{conversation_id:int}/signaler/{message_id:int}", media_type=MediaType.HTML,
      include_in_schema=False, status_code=200)
async def conversation_report(request: Request, conversation_id: Id, message_id: Id) -> Template | Redirect:
    return await _party_action(request, conversation_id, "report", message_id)


async def _party_action(request: Request, conversation_id: int, action: str, message_id: int | None
                        ) -> Template | Redirect:
    """A logged-in party replies in, or reports a message of, their conversation."""
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    try:
        conv, role = await party_conversation(request, conversation_id)
    except ContactError as exc:
        return _page("unavailable.html", exc.status, message=exc.message)
    return await _post_in_conversation(request, conv, role, f"/messages/{conv['id']}", user.id, action, message_id)


async def _by_link(request: Request, token: str) -> dict[str, Any] | None:
    if not domain.valid_token(token):
        return None
    async with request.app.state.engine.connect() as conn:
        found = await store.conversation_by_token(conn, token, ("access",))
    return found[0] if found else None


@get("/conversation/{token:str}", media_type=MediaType.HTML, include_in_schema=False)
async def link_page(request: Request, token: str) -> Template:
    conv = await _by_link(request, token)
    if conv is None:
        return _page("unavailable.html", 404, message="Lien inconnu ou expiré.")
    notice = {"confirme": "Merci : votre message est parti. Vous recevrez la réponse par courriel.",
              "ok": "Votre réponse est envoyée."}.get(request.query_params.get("etat") or "")
    return await _render_conversation(request, conv, "sender", action=f"/conversation/{token}", notice=notice)


@post("/conversation/{token:str}/confirmer", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def link_confirm(request: Request, token: str) -> Template | Redirect:
    if await _by_link(request, token) is None:
        return _page("unavailable.html", 404, message="Lien inconnu ou expiré.")
    await confirm(request_ctx(request), token)
    return Redirect(f"/conversation/{token}?etat=confirme", status_code=303)


@post("/conversation/{token:str}/repondre", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def link_reply(request: Request, token: str) -> Template | Redirect:
    conv = await _by_link(request, token)
    if conv is None:
        return _page("unavailable.html", 404, message="Lien inconnu ou expiré.")
    result = await _post_in_conversation(request, conv, "sender", f"/conversation/{token}", None, "reply", None)
    if isinstance(result, Redirect):
        return Redirect(f"/conversation/{token}?etat=ok", status_code=303)
    return result


@post("/conversation/{token:str}/signaler/{message_id:int}", media_type=MediaType.HTML, include_in_schema=False,
      status_code=200)
async def link_report(request: Request, token: str, message_id: Id) -> Template | Redirect:
    conv = await _by_link(request, token)
    if conv is None:
        return _page("unavailable.html", 404, message="Lien inconnu ou expiré.")
    return await _post_in_conversation(request, conv, "sender", f"/conversation/{token}", None, "report", message_id)


@get("/moderation/messages", media_type=MediaType.HTML, include_in_schema=False)
async def moderation_page(request: Request) -> Template | Redirect:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    if not user.has("moderator"):
        return _page("unavailable.html", 403, message="Réservé à la modération.")
    async with request.app.state.engine.connect() as conn:
        rows = await store.reports(conn, open_only=False)
    return _page("moderation.html", reports=rows, notice=request.query_params.get("ok") and "C'est fait.")


@post("/moderation/messages/{message_id:int}/{op:str}", media_type=MediaType.HTML, include_in_schema=False,
      status_code=200)
async def moderation_action(request: Request, message_id: Id, op: str) -> Template | Redirect:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    if not user.has("moderator"):
        return _page("unavailable.html", 403, message="Réservé à la modération.")
    if op not in ("masquer", "afficher") or not await moderate(request, message_id, op == "masquer"):
        return _page("unavailable.html", 404, message="Message introuvable.")
    return Redirect("/moderation/messages?ok=1", status_code=303)

routes = [contact_form, contact_submit, my_conversations, conversation_page, conversation_reply,
          conversation_report, link_page, link_confirm, link_reply, link_report, moderation_page, moderation_action]
