"""Contact: the use cases (first message, confirmation, replies from the platform or by e-mail,
reports, moderation), shared by the HTTP handlers and the inbound-mail adapter.

Every use case runs in one transaction; the e-mails it sends are queued in the outbox inside that
same transaction (the mailer's ``conn=``), so a message is never stored without its e-mail nor
mailed without being stored. The ``answered`` event is published after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.contracts.events import MatchmakingChanged
from libs.contracts.topics import MATCHMAKING
from libs.runtime.messaging import publish
from services.gateway.contact import domain, store, targets
from services.gateway.contact.domain import (
    LIMITS,
    REPLY_LIMITS,
    check_body,
    check_draft,
    fingerprint,
    hash_key,
    mail_confirm,
    mail_to_recipient,
    mail_to_sender,
    reply_address,
    subject_line,
)

log = structlog.get_logger()
PARTIES = ("sender", "recipient")


class ContactError(Exception):
    """A refusal, with its HTTP status, a French message and per-field errors."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or {}


@dataclass
class Sent:
    status: str                      # 'sent' | 'pending' (awaiting the visitor's confirmation) | 'ignored'
    conversation_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ctx:
    """What the use cases need from the app."""

    engine: Any
    search: Any
    mailer: Any
    broker: Any
    mail_domain: str
    base_url: str


def ctx_from_state(state: Any, base_url: str) -> Ctx:
    cfg = state.settings
    return Ctx(engine=state.engine, search=state.search, mailer=state.mailer, broker=state.broker,
               mail_domain=cfg.mail_domain, base_url=(cfg.public_base_url or base_url).rstrip("/"))


# --------------------------------------------------------------------------- mails


async def _mail_recipient(ctx: Ctx, conn: AsyncConnection, conv: dict[str, Any], body: str, *, first: bool) -> None:
    to = await targets.recipient_address(conn, conv)
    if to is None:
        log.warning("contact recipient account gone: no e-mail", conversation_id=conv["id"])
        return
    page = f"{ctx.base_url}/messages/{conv['id']}" if conv["recipient_user_id"] is not None else None
    token = await store.new_conversation_token(conn, conv["id"], "reply_recipient")
    sender_name = conv["sender_name"]
    text = mail_to_recipient(subject=conv["subject"], sender_name=sender_name, body=body, page_url=page, first=first,
                             via_contact_address=conv["recipient_user_id"] is None)
    await ctx.mailer.send(to, domain.subject_line(conv["subject"]), text,
                          reply_to=reply_address(token, ctx.mail_domain),
                          headers={"X-Carrefour-Conversation": str(conv["id"])}, conn=conn)


async def _sender_page(ctx: Ctx, conn: AsyncConnection, conv: dict[str, Any]) -> str:
    if conv["sender_user_id"] is not None:
        return f"{ctx.base_url}/messages/{conv['id']}"
    token = await store.new_conversation_token(conn, conv["id"], "access")
    return f"{ctx.base_url}/conversation/{token}"


async def _mail_sender(ctx: Ctx, conn: AsyncConnection, conv: dict[str, Any], body: str) -> None:
    token = await store.new_conversation_token(conn, conv["id"], "reply_sender")
    text = mail_to_sender(subject=conv["subject"], body=body, page_url=await _sender_page(ctx, conn, conv))
    await ctx.mailer.send(conv["sender_email"], "Re: " + subject_line(conv["subject"]), text,
                          reply_to=reply_address(token, ctx.mail_domain),
                          headers={"X-Carrefour-Conversation": str(conv["id"])}, conn=conn)


# --------------------------------------------------------------------------- first message


async def send_first(ctx: Ctx, *, kind: str, target_id: str, name: str | None, email: str | None,
                     body: str | None, honeypot: str | None, ip: str | None, user: Any | None,
                     channel: str = "web") -> Sent:
    if kind not in ("project", "post") or not domain.TARGET_ID.match(target_id or ""):
        raise ContactError(404, "Destinataire introuvable.")
    draft = check_draft(name, email, body, honeypot, logged_in_email=user.email if user else None,
                        logged_in_name=user.display_name if user else None)
    if draft.errors:
        raise ContactError(400, "Le message n'a pas pu être envoyé : corrigez les champs signalés.", draft.errors)
    if draft.spam:
        log.info("contact honeypot filled: message dropped", kind=kind, target=target_id)
        return Sent("ignored")
    verified = bool(user and user.email_verified)
    ip_hash = hash_key(ip) if ip else None
    keys = {"sender": hash_key(draft.email)}
    if ip_hash:
        keys["ip"] = ip_hash
    async with ctx.engine.begin() as conn:
        target = await targets.resolve(conn, ctx.search, kind, target_id)
        if target is None:
            raise ContactError(404, "Ce destinataire ne peut pas être contacté.")
        if user is not None and target.recipient_user_id == user.id:
            raise ContactError(400, "Vous ne pouvez pas vous écrire à vous-même.")
        exceeded = domain.first_exceeded(LIMITS, await store.lock_and_count(conn, keys, LIMITS))
        if exceeded:
            log.info("contact rate limited", bucket=exceeded.bucket, window_s=exceeded.window_s)
            raise ContactError(429, exceeded.message)
        body_hash = fingerprint(draft.body)
        if await store.is_duplicate(conn, sender_email=draft.email, ip_hash=ip_hash, body_hash=body_hash):
            raise ContactError(409, domain.DUPLICATE_MESSAGE)
        await store.record_attempt(conn, keys)
        conv_id = await store.create_conversation(
            conn, target_kind=target.kind, target_id=target.id, project_id=target.project_id, subject=target.title,
            sender_user_id=user.id if user else None, sender_name=draft.name, sender_email=draft.email,
            recipient_user_id=target.recipient_user_id, recipient_email=target.recipient_email,
            state="open" if verified else "pending")
        await store.add_message(conn, conv_id, author="sender", body=draft.body, body_hash=body_hash, channel=channel,
                                ip_hash=ip_hash)
        conv = await store.conversation(conn, conv_id)
        if verified:
            await _mail_recipient(ctx, conn, conv, draft.body, first=True)
        else:  # the visitor proves the address is theirs before anything goes to the recipient
            token = await store.new_conversation_token(conn, conv_id, "access")
            await ctx.mailer.send(draft.email, "[Carrefour] Confirmez l'envoi de votre message",
                                  mail_confirm(subject=target.title, page_url=f"{ctx.base_url}/conversation/{token}"),
                                  conn=conn)
    log.info("contact message", conversation_id=conv_id, kind=kind, target=target_id,
             state="open" if verified else "pending", recipient="account" if target.recipient_user_id else "contact")
    return Sent("sent" if verified else "pending", conv_id)


async def confirm(ctx: Ctx, token: str) -> dict[str, Any]:
    """The anonymous visitor confirms (POST from their secret link): the first message goes out."""
    async with ctx.engine.begin() as conn:
        found = await store.conversation_by_token(conn, token, ("access",))
        if found is None:
            raise ContactError(404, "Lien inconnu ou expiré.")
        conv, _ = found
        if await store.open_pending(conn, conv["id"]):
            first = await store.first_message(conn, conv["id"])
            conv = await store.conversation(conn, conv["id"])
            await _mail_recipient(ctx, conn, conv, first["body"] if first else "", first=True)
            log.info("contact message confirmed", conversation_id=conv["id"])
    return conv


# --------------------------------------------------------------------------- replies


async def reply(ctx: Ctx, conversation_id: int, author: str, body: str | None, *, channel: str,
                ip: str | None = None, email_message_id: str | None = None) -> int | None:
    """Append a party's message and mail it to the other party; the recipient's first answer to
    a conversation about a post publishes ``MatchmakingChanged(kind="answered")``. None when an
    inbound e-mail was already appended (same Message-ID)."""
    if author not in PARTIES:
        raise ValueError(author)
    text, error = check_body(body, minimum=1)
    if error:
        raise ContactError(400, error, {"body": error})
    first_answer = False
    async with ctx.engine.begin() as conn:
        conv = await store.conversation(conn, conversation_id, for_update=True)
        if conv is None:
            raise ContactError(404, "Conversation introuvable.")
        if conv["state"] != "open":
            raise ContactError(409, "Confirmez d'abord l'envoi de votre premier message.")
        keys = {"reply": hash_key(f"{conversation_id}:{author}")}
        exceeded = domain.first_exceeded(REPLY_LIMITS, await store.lock_and_count(conn, keys, REPLY_LIMITS))
        if exceeded:
            raise ContactError(429, exceeded.message)
        message_id = await store.add_message(conn, conversation_id, author=author, body=text,
                                             body_hash=fingerprint(text), channel=channel,
                                             ip_hash=hash_key(ip) if ip else None, email_message_id=email_message_id)
        if message_id is None:
            return None
        await store.record_attempt(conn, keys)
        if author == "recipient":
            first_answer = await store.mark_answered(conn, conversation_id)
            await _mail_sender(ctx, conn, conv, text)
        else:
            await _mail_recipient(ctx, conn, conv, text, first=False)
        post = await targets.post_facts(conn, conv["target_id"]) if first_answer and conv["target_kind"] == "post" \
            else None
    log.info("contact reply", conversation_id=conversation_id, author=author, channel=channel)
    if post is not None:
        event = MatchmakingChanged(kind="answered", post_id=post["id"], post_kind=post["kind"],
                                   project_id=post.get("project_id"), themes=list(post.get("themes") or [])[:30],
                                   departement=post.get("departement"), actor_role="holder")
        try:
            await publish(ctx.broker, MATCHMAKING, event, key=post["id"])
        except Exception as exc:  # noqa: BLE001 — the answer is stored and mailed: report, don't fail it
            log.error("answered event not published", post_id=post["id"], error=f"{type(exc).__name__}: {exc}")
    return message_id


# --------------------------------------------------------------------------- inbound e-mail


async def _party_addresses(conn: AsyncConnection, conv: dict[str, Any], author: str) -> list[str | None]:
    """The addresses a party of the conversation may reply from: the one our mail went to, and their account's."""
    if author == "sender":
        user = await targets.user_contact(conn, conv["sender_user_id"]) if conv["sender_user_id"] else None
        return [conv["sender_email"], user[0] if user else None]
    user = await targets.user_contact(conn, conv["recipient_user_id"]) if conv["recipient_user_id"] else None
    return [await targets.recipient_address(conn, conv), conv["recipient_email"], user[0] if user else None]


async def inbound(ctx: Ctx, raw: bytes, envelope_to: list[str] | None = None) -> str:
    """An e-mail sent to a reply address: appended to its conversation (quotes stripped) and
    forwarded to the other party. Returns the outcome: appended, duplicate, automatic,
    unknown_token (also: expired), wrong_sender (From is not the replying party's), empty, rejected."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        mail = domain.parse_inbound(msg, ctx.mail_domain, envelope_to)
    except Exception as exc:  # noqa: BLE001 — a malformed message is refused, never crashes the poller
        log.warning("inbound mail unreadable", error=type(exc).__name__)
        return "rejected"
    if mail.automatic:
        return "automatic"
    found = None
    async with ctx.engine.connect() as conn:
        for token in mail.tokens:
            found = await store.conversation_by_token(conn, token, ("reply_sender", "reply_recipient"))
            if found:
                break
    if found is None:
        return "unknown_token"
    conv, purpose = found
    author = "sender" if purpose == "reply_sender" else "recipient"
    async with ctx.engine.connect() as conn:
        parties = await _party_addresses(conn, conv, author)
    if not domain.sender_allowed(mail.from_address, parties):
        log.info("inbound mail from a stranger refused", conversation_id=conv["id"], author=author)
        return "wrong_sender"
    if not mail.text:
        return "empty"
    text = mail.text if len(mail.text) <= domain.BODY_MAX else mail.text[:domain.BODY_MAX - 2] + " …"
    try:
        done = await reply(ctx, conv["id"], author, text, channel="email", email_message_id=mail.message_id)
    except ContactError as exc:
        log.info("inbound mail refused", conversation_id=conv["id"], reason=exc.message)
        return "rejected"
    return "appended" if done is not None else "duplicate"


# --------------------------------------------------------------------------- reports, moderation


async def report(ctx: Ctx, conversation_id: int, message_id: int, reporter: str, reporter_user_id: int | None,
                 reason: str | None) -> bool:
    reason = domain.clean_text(reason)[:domain.REASON_MAX] or "abusif"
    async with ctx.engine.begin() as conn:
        msg = await store.message(conn, message_id)
        if msg is None or msg["conversation_id"] != conversation_id:
            raise ContactError(404, "Message introuvable.")
        if msg["author"] == reporter:
            raise ContactError(400, "Vous ne pouvez pas signaler votre propre message.")
        return await store.add_report(conn, message_id, reporter, reporter_user_id, reason)


def party_of(conv: dict[str, Any], user: Any | None) -> str | None:
    """'sender' or 'recipient' for a logged-in user taking part in the conversation, else None."""
    if user is None:
        return None
    if conv["recipient_user_id"] == user.id and conv["state"] == "open":
        return "recipient"
    if conv["sender_user_id"] == user.id:
        return "sender"
    return None
