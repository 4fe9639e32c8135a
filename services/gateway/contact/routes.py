"""Contact between visitors and holders, JSON API: first message to a project's holder or a post's author
(anonymous with name + e-mail: held until the visitor confirms from the e-mailed link; logged in and verified:
sent at once); conversations and replies (a party, logged in); reports, hide/unhide (moderators);
POST /api/v1/inbound-mail: a raw e-mail (RFC 5322) from a mail provider, with the shared secret in
X-Inbound-Secret (disabled while INBOUND_SECRET is unset). The inbound Maildir (INBOUND_MAILBOX_DIR) is
polled by lifespan."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, Literal

from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.accounts.identity import (
    current_user,
)
from services.gateway.contact import domain, service, store
from services.gateway.contact.http import (
    LOGIN,
    MAX_INBOUND_BYTES,
    MODERATOR,
    Id,
    error,
    ip,
    log,
    moderate,
    party_conversation,
    request_ctx,
)
from services.gateway.contact.inbound import poll_maildir
from services.gateway.contact.service import (
    ContactError,
    ctx_from_state,
    reply,
    report,
    send_first,
)

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
        sent = await send_first(request_ctx(request), kind=data.target_kind, target_id=data.target_id, name=data.name,
                                email=data.email, body=data.body, honeypot=data.website, ip=ip(request), user=user,
                                channel="api")
    except ContactError as exc:
        return error(exc)
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




@get("/api/v1/contact/conversations", guards=LOGIN, summary="My conversations (as sender or recipient)")
async def api_conversations(request: Request) -> dict[str, Any]:
    user = await current_user(request)
    async with request.app.state.engine.connect() as conn:
        rows = await store.conversations_of(conn, user.id)
    return {"conversations": [_public_conversation(r, r["role"]) for r in rows]}


@get("/api/v1/contact/conversations/{conversation_id:int}", guards=LOGIN, summary="One conversation (a party)")
async def api_conversation(request: Request, conversation_id: Id) -> Response:
    try:
        conv, role = await party_conversation(request, conversation_id)
    except ContactError as exc:
        return error(exc)
    async with request.app.state.engine.connect() as conn:
        msgs = await store.messages(conn, conv["id"])
    return Response({**_public_conversation(conv, role), "messages": _public_messages(msgs)})


@post("/api/v1/contact/conversations/{conversation_id:int}/messages", guards=LOGIN, status_code=201,
      summary="Answer in a conversation (a party); the other party gets it by e-mail")
async def api_reply(request: Request, conversation_id: Id, data: ReplyIn) -> Response:
    try:
        conv, role = await party_conversation(request, conversation_id)
        message_id = await reply(request_ctx(request), conv["id"], role, data.body, channel="api", ip=ip(request))
    except ContactError as exc:
        return error(exc)
    return Response({"id": message_id, "conversation_id": conv["id"]}, status_code=201)


@post("/api/v1/contact/conversations/{conversation_id:int}/messages/{message_id:int}/report", guards=LOGIN,
      status_code=201, summary="Report the other party's message to the moderators (a party)")
async def api_report(request: Request, conversation_id: Id, message_id: Id, data: ReportIn) -> Response:
    user = await current_user(request)
    try:
        conv, role = await party_conversation(request, conversation_id)
        new = await report(request_ctx(request), conv["id"], message_id, role, user.id, data.reason)
    except ContactError as exc:
        return error(exc)
    return Response({"reported": True, "new": new}, status_code=201)


@get("/api/v1/contact/reports", guards=MODERATOR, summary="Reported messages (moderators)")
async def api_reports(request: Request, all: bool = False) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = await store.reports(conn, open_only=not all)
    return {"reports": rows}


@post("/api/v1/contact/messages/{message_id:int}/hide", guards=MODERATOR, status_code=200,
      summary="Hide an abusive message (moderators)")
async def api_hide(request: Request, message_id: Id) -> dict[str, Any]:
    return await _set_hidden(request, message_id, True)


@post("/api/v1/contact/messages/{message_id:int}/unhide", guards=MODERATOR, status_code=200,
      summary="Show a hidden message again (moderators)")
async def api_unhide(request: Request, message_id: Id) -> dict[str, Any]:
    return await _set_hidden(request, message_id, False)


async def _set_hidden(request: Request, message_id: int, hidden: bool) -> dict[str, Any]:
    if not await moderate(request, message_id, hidden):
        raise NotFoundException("no such message")
    return {"id": message_id, "hidden": hidden}


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
    outcome = await service.inbound(request_ctx(request), raw, envelope)
    log.info("inbound mail", channel="webhook", outcome=outcome)
    return Response({"outcome": outcome})


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
          api_inbound]
