"""Contact between visitors and holders: conversations, messages, replies by e-mail.

API (JSON):
- ``POST /api/v1/contact/messages``: first message to a project's holder or a post's author
  (anonymous with name + e-mail: held until the visitor confirms from the e-mailed link; logged in
  and verified: sent at once);
- ``GET /api/v1/contact/conversations`` and ``GET /api/v1/contact/conversations/{id}`` (a party, logged in);
- ``POST /api/v1/contact/conversations/{id}/messages`` (reply), ``.../messages/{mid}/report``;
- ``GET /api/v1/contact/reports``, ``POST /api/v1/contact/messages/{mid}/hide|unhide`` (moderators);
- ``POST /api/v1/inbound-mail``: a raw e-mail (RFC 5322) from a mail provider, with the shared
  secret in ``X-Inbound-Secret`` (disabled while ``INBOUND_SECRET`` is unset).

Pages (French): ``/contact/projet/{id}``, ``/contact/annonce/{id}`` (form), ``/messages`` (list),
``/messages/{id}`` (conversation), ``/conversation/{token}`` (an anonymous visitor's secret link),
``/moderation/messages`` (reports, hide/unhide).

The inbound Maildir (``INBOUND_MAILBOX_DIR``) is polled by ``lifespan``.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Redirect, Template
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.accounts.audit import audit
from services.gateway.accounts.identity import current_user, login_redirect, require_login, require_role
from services.gateway.contact import domain, store
from services.gateway.contact.inbound import poll_maildir
from services.gateway.contact.service import ContactError, Ctx, confirm, ctx_from_state, party_of, reply, report, \
    send_first
from services.gateway.contact import service

log = structlog.get_logger()
MAX_INBOUND_BYTES = 1024 * 1024
KINDS = {"projet": "project", "annonce": "post"}
MODERATOR = [require_role("moderator")]
LOGIN = [require_login]
Id = Annotated[int, Parameter(ge=1, le=2**62)]


def _ctx(request: Request) -> Ctx:
    return ctx_from_state(request.app.state, str(request.base_url))


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _error(exc: ContactError) -> Response:
    return Response({"status_code": exc.status, "detail": exc.message, "errors": exc.errors}, status_code=exc.status)


# --------------------------------------------------------------------------- API


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_kind: Literal["project", "post"]
    target_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,100}$")]
    name: Annotated[str | None, Field(max_length=200)] = None
    email: Annotated[str | None, Field(max_length=300)] = None
    body: Annotated[str, Field(max_length=domain.BODY_MAX * 2)]
    website: Annotated[str | None, Field(max_length=500, description="leave empty (anti-spam field)")] = None


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: Annotated[str, Field(max_length=domain.BODY_MAX * 2)]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str | None, Field(max_length=domain.REASON_MAX)] = None


@post("/api/v1/contact/messages", status_code=202,
      summary="Write to a project's holder or a post's author (their e-mail is never shown)")
async def api_send(request: Request, data: ContactIn) -> Response:
    user = await current_user(request)
    try:
        sent = await send_first(_ctx(request), kind=data.target_kind, target_id=data.target_id, name=data.name,
                                email=data.email, body=data.body, honeypot=data.website, ip=_ip(request), user=user,
                                channel="api")
    except ContactError as exc:
        return _error(exc)
    body: dict[str, Any] = {"status": "sent" if sent.status == "ignored" else sent.status}
    if user is not None and sent.conversation_id:
        body["conversation_id"] = sent.conversation_id
    return Response(body, status_code=202)


def _public_conversation(conv: dict[str, Any], role: str) -> dict[str, Any]:
    """What a party sees: never the other party's e-mail."""
    return {"id": conv["id"], "target_kind": conv["target_kind"], "target_id": conv["target_id"],
            "subject": conv["subject"], "role": role, "state": conv["state"],
            "sender_name": conv["sender_name"], "created_at": conv["created_at"],
            "last_message_at": conv["last_message_at"], "answered": conv["answered_at"] is not None}


def _public_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": m["id"], "author": m["author"], "created_at": m["created_at"], "channel": m["channel"],
             "hidden": m["hidden"], "body": None if m["hidden"] else m["body"]} for m in messages]


async def _party_conversation(request: Request, conversation_id: int) -> tuple[dict[str, Any], str]:
    """The conversation and the logged-in user's role in it; 404 unknown, 403 not a party."""
    async with request.app.state.engine.connect() as conn:
        conv = await store.conversation(conn, conversation_id)
    if conv is None:
        raise ContactError(404, "Conversation introuvable.")
    role = party_of(conv, await current_user(request))
    if role is None:
        raise ContactError(403, "Cette conversation ne vous concerne pas.")
    return conv, role


@get("/api/v1/contact/conversations", guards=LOGIN, summary="My conversations (as sender or recipient)")
async def api_conversations(request: Request) -> dict[str, Any]:
    user = await current_user(request)
    async with request.app.state.engine.connect() as conn:
        rows = await store.conversations_of(conn, user.id)
    return {"conversations": [_public_conversation(r, r["role"]) for r in rows]}


@get("/api/v1/contact/conversations/{conversation_id:int}", guards=LOGIN, summary="One conversation (a party)")
async def api_conversation(request: Request, conversation_id: Id) -> Response:
    try:
        conv, role = await _party_conversation(request, conversation_id)
    except ContactError as exc:
        return _error(exc)
    async with request.app.state.engine.connect() as conn:
        msgs = await store.messages(conn, conv["id"])
    return Response({**_public_conversation(conv, role), "messages": _public_messages(msgs)})


@post("/api/v1/contact/conversations/{conversation_id:int}/messages", guards=LOGIN, status_code=201,
      summary="Answer in a conversation (a party); the other party gets it by e-mail")
async def api_reply(request: Request, conversation_id: Id, data: ReplyIn) -> Response:
    try:
        conv, role = await _party_conversation(request, conversation_id)
        message_id = await reply(_ctx(request), conv["id"], role, data.body, channel="api", ip=_ip(request))
    except ContactError as exc:
        return _error(exc)
    return Response({"id": message_id, "conversation_id": conv["id"]}, status_code=201)


@post("/api/v1/contact/conversations/{conversation_id:int}/messages/{message_id:int}/report", guards=LOGIN,
      status_code=201, summary="Report the other party's message to the moderators (a party)")
async def api_report(request: Request, conversation_id: Id, message_id: Id, data: ReportIn) -> Response:
    user = await current_user(request)
    try:
        conv, role = await _party_conversation(request, conversation_id)
        new = await report(_ctx(request), conv["id"], message_id, role, user.id, data.reason)
    except ContactError as exc:
        return _error(exc)
    return Response({"reported": True, "new": new}, status_code=201)


@get("/api/v1/contact/reports", guards=MODERATOR, summary="Reported messages (moderators)")
async def api_reports(request: Request, all: bool = False) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = await store.reports(conn, open_only=not all)
    return {"reports": rows}


async def _moderate(request: Request, message_id: int, hidden: bool) -> bool:
    user = await current_user(request)
    async with request.app.state.engine.begin() as conn:
        done = await store.set_hidden(conn, message_id, hidden, user.id)
        if done:
            await audit(conn, user.id, "contact.message." + ("hide" if hidden else "unhide"),
                        f"contact_message:{message_id}")
    if done:
        log.info("contact message moderated", message_id=message_id, hidden=hidden, moderator=user.id)
    return done


@post("/api/v1/contact/messages/{message_id:int}/hide", guards=MODERATOR, status_code=200,
      summary="Hide an abusive message (moderators)")
async def api_hide(request: Request, message_id: Id) -> dict[str, Any]:
    if not await _moderate(request, message_id, True):
        raise NotFoundException("no such message")
    return {"id": message_id, "hidden": True}


@post("/api/v1/contact/messages/{message_id:int}/unhide", guards=MODERATOR, status_code=200,
      summary="Show a hidden message again (moderators)")
async def api_unhide(request: Request, message_id: Id) -> dict[str, Any]:
    if not await _moderate(request, message_id, False):
        raise NotFoundException("no such message")
    return {"id": message_id, "hidden": False}


@post("/api/v1/inbound-mail", status_code=200, opt={"exclude_from_csrf": True},
      summary="A reply e-mail from a mail provider (raw RFC 5322 body; X-Inbound-Secret)")
async def api_inbound(request: Request,
                      recipient: Annotated[list[str] | None, Parameter(description="envelope recipients")] = None
                      ) -> Response:
    cfg = request.app.state.settings
    if not cfg.inbound_secret:
        raise NotFoundException("inbound mail is not enabled")
    given = request.headers.get("x-inbound-secret") or ""
    if not hmac.compare_digest(given.encode(), cfg.inbound_secret.encode()):
        return Response({"status_code": 401, "detail": "bad or missing X-Inbound-Secret"}, status_code=401)
    raw = await request.body()
    if not raw.strip():
        return Response({"status_code": 400, "detail": "empty message"}, status_code=400)
    if len(raw) > MAX_INBOUND_BYTES:
        return Response({"status_code": 413, "detail": "message too large"}, status_code=413)
    envelope = [r for r in (recipient or [])[:10] if len(r) <= 300]
    outcome = await service.inbound(_ctx(request), raw, envelope)
    log.info("inbound mail", channel="webhook", outcome=outcome)
    return Response({"outcome": outcome})


# --------------------------------------------------------------------------- pages


def _page(name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(f"contact/{name}", context=context, status_code=status_code)


async def _target_title(request: Request, kind: str, target_id: str) -> str | None:
    from services.gateway.contact import targets

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
        sent = await send_first(_ctx(request), kind=real, target_id=target_id, name=values["name"],
                                email=values["email"], body=values["body"], honeypot=values["site_web"],
                                ip=_ip(request), user=await current_user(request))
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
        conv, role = await _party_conversation(request, conversation_id)
    except ContactError as exc:
        return _page("unavailable.html", exc.status, message=exc.message)
    return await _render_conversation(request, conv, role, action=f"/messages/{conv['id']}",
                                      notice=request.query_params.get("ok") and "Votre réponse est envoyée.")


async def _post_in_conversation(request: Request, conv: dict[str, Any], role: str, action: str,
                                reporter_user: int | None, op: str, message_id: int | None) -> Template | Redirect:
    form = await request.form()
    ctx = _ctx(request)
    try:
        if op == "reply":
            await reply(ctx, conv["id"], role, str(form.get("body") or "")[:domain.BODY_MAX * 2], channel="web",
                        ip=_ip(request))
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
        conv, role = await _party_conversation(request, conversation_id)
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
    await confirm(_ctx(request), token)
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
    if op not in ("masquer", "afficher") or not await _moderate(request, message_id, op == "masquer"):
        return _page("unavailable.html", 404, message="Message introuvable.")
    return Redirect("/moderation/messages?ok=1", status_code=303)


# --------------------------------------------------------------------------- inbound Maildir


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Polls the inbound Maildir (replies by e-mail) and purges old rate-limit counters."""
    state = app.state
    cfg = state.settings
    directory = Path(cfg.inbound_mailbox_dir) if cfg.inbound_mailbox_dir else None
    base = cfg.public_base_url or f"http://{cfg.gateway_host}:{cfg.gateway_port}"

    async def run() -> None:
        ticks = 0
        while True:
            try:
                ctx = ctx_from_state(state, base)
                if directory is not None:
                    await poll_maildir(directory, lambda raw: service.inbound(ctx, raw))
                if ticks % 600 == 0:
                    async with state.engine.begin() as conn:
                        await store.purge(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — database down: try again next round
                log.warning("contact background round failed", error=f"{type(exc).__name__}: {exc}")
            ticks += 1
            await asyncio.sleep(cfg.inbound_poll_s)

    task = asyncio.create_task(run(), name="contact-inbound")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


routes = [api_send, api_conversations, api_conversation, api_reply, api_report, api_reports, api_hide, api_unhide,
          api_inbound, contact_form, contact_submit, my_conversations, conversation_page, conversation_reply,
          conversation_report, link_page, link_confirm, link_reply, link_report, moderation_page, moderation_action]
