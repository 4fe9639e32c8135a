"""Contact: the SQL (PostgreSQL). Every function takes a connection of the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.gateway.contact.domain import (
    DUPLICATE_WINDOW_S,
    REPLY_IDLE_DAYS,
    Limit,
    new_token,
    token_hash,
)

# reply addresses also stop REPLY_IDLE_DAYS after the conversation's last message (conversation_by_token)
TOKEN_TTL_DAYS = {"reply_sender": 180, "reply_recipient": 180, "access": 365}
CONVERSATION_COLUMNS = ("id, target_kind, target_id, project_id, subject, sender_user_id, sender_name, sender_email, "
                        "recipient_user_id, recipient_email, state, created_at, last_message_at, answered_at")


# --------------------------------------------------------------------------- rate limits, duplicates


async def lock_and_count(conn: AsyncConnection, keys: dict[str, str], limits: tuple[Limit, ...]
                         ) -> dict[tuple[str, int], int]:
    """Serialise concurrent senders on the same keys (any replica: a transaction advisory lock),
    then count the attempts of each key in each limit's window."""
    for bucket, key in sorted(keys.items()):
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 7))"), {"k": f"{bucket}:{key}"})
    counts: dict[tuple[str, int], int] = {}
    for limit in limits:
        if limit.bucket not in keys:
            continue
        counts[(limit.bucket, limit.window_s)] = (await conn.execute(text(
            "SELECT count(*) FROM contact_attempts WHERE bucket=:b AND key_hash=:k "
            "AND at > now() - make_interval(secs => :w)"),
            {"b": limit.bucket, "k": keys[limit.bucket], "w": limit.window_s})).scalar_one()
    return counts


async def record_attempt(conn: AsyncConnection, keys: dict[str, str]) -> None:
    for bucket, key in keys.items():
        await conn.execute(text("INSERT INTO contact_attempts (bucket, key_hash) VALUES (:b, :k)"),
                           {"b": bucket, "k": key})


async def is_duplicate(conn: AsyncConnection, *, sender_email: str, ip_hash: str | None, body_hash: str) -> bool:
    """The same text from the same sender (address or connection) within the window, to anyone."""
    return (await conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM contact_messages m JOIN contact_conversations c ON c.id = m.conversation_id "
        "WHERE m.body_hash = :h AND m.author = 'sender' AND m.created_at > now() - make_interval(secs => :w) "
        "AND (c.sender_email = :e OR (CAST(:ip AS text) IS NOT NULL AND m.ip_hash = :ip)))"),
        {"h": body_hash, "w": DUPLICATE_WINDOW_S, "e": sender_email, "ip": ip_hash})).scalar_one()


async def purge(conn: AsyncConnection) -> None:
    """Rate-limit counters older than two days, expired tokens, and first messages never confirmed
    within a week go."""
    await conn.execute(text("DELETE FROM contact_attempts WHERE at < now() - interval '2 days'"))
    await conn.execute(text("DELETE FROM contact_tokens WHERE expires_at < now()"))
    await conn.execute(text("DELETE FROM contact_conversations WHERE state = 'pending' "
                            "AND created_at < now() - interval '7 days'"))


# --------------------------------------------------------------------------- conversations, messages


async def create_conversation(conn: AsyncConnection, *, target_kind: str, target_id: str, project_id: str | None,
                              subject: str, sender_user_id: int | None, sender_name: str, sender_email: str,
                              recipient_user_id: int | None, recipient_email: str | None, state: str) -> int:
    return (await conn.execute(text(
        "INSERT INTO contact_conversations (target_kind, target_id, project_id, subject, sender_user_id, sender_name, "
        "sender_email, recipient_user_id, recipient_email, state) VALUES (:tk, :ti, :pi, :s, :su, :sn, :se, :ru, :re, "
        ":st) RETURNING id"),
        dict(tk=target_kind, ti=target_id, pi=project_id, s=subject[:300], su=sender_user_id, sn=sender_name,
             se=sender_email, ru=recipient_user_id, re=recipient_email, st=state))).scalar_one()


async def add_message(conn: AsyncConnection, conversation_id: int, *, author: str, body: str, body_hash: str,
                      channel: str, ip_hash: str | None = None, email_message_id: str | None = None) -> int | None:
    """The new message's id; None when this inbound e-mail (same Message-ID) was already appended."""
    row = (await conn.execute(text(
        "INSERT INTO contact_messages (conversation_id, author, body, body_hash, channel, ip_hash, email_message_id) "
        "VALUES (:c, :a, :b, :h, :ch, :ip, :mid) ON CONFLICT (conversation_id, email_message_id) DO NOTHING "
        "RETURNING id"),
        dict(c=conversation_id, a=author, b=body, h=body_hash, ch=channel, ip=ip_hash, mid=email_message_id))).first()
    if row is None:
        return None
    await conn.execute(text("UPDATE contact_conversations SET last_message_at = now() WHERE id = :c"),
                       {"c": conversation_id})
    return row[0]


async def new_conversation_token(conn: AsyncConnection, conversation_id: int, purpose: str) -> str:
    token, hashed = new_token()
    await conn.execute(text(
        "INSERT INTO contact_tokens (token_hash, conversation_id, purpose, expires_at) "
        "VALUES (:h, :c, :p, now() + make_interval(days => :d))"),
        {"h": hashed, "c": conversation_id, "p": purpose, "d": TOKEN_TTL_DAYS[purpose]})
    return token


async def conversation_by_token(conn: AsyncConnection, token: str, purposes: tuple[str, ...]
                                ) -> tuple[dict[str, Any], str] | None:
    row = (await conn.execute(text(
        "SELECT t.purpose, " + ", ".join(f"c.{c.strip()}" for c in CONVERSATION_COLUMNS.split(",")) +
        " FROM contact_tokens t JOIN contact_conversations c ON c.id = t.conversation_id "
        "WHERE t.token_hash = :h AND t.expires_at > now() AND t.purpose = ANY(:p) "
        "AND (t.purpose = 'access' OR c.last_message_at > now() - make_interval(days => :idle))"),
        {"h": token_hash(token), "p": list(purposes), "idle": REPLY_IDLE_DAYS})).mappings().first()
    if row is None:
        return None
    data = dict(row)
    return data, data.pop("purpose")


async def conversation(conn: AsyncConnection, conversation_id: int, *, for_update: bool = False
                       ) -> dict[str, Any] | None:
    row = (await conn.execute(text(f"SELECT {CONVERSATION_COLUMNS} FROM contact_conversations WHERE id = :c"
                                   + (" FOR UPDATE" if for_update else "")), {"c": conversation_id})).mappings().first()
    return dict(row) if row else None


async def messages(conn: AsyncConnection, conversation_id: int) -> list[dict[str, Any]]:
    rows = (await conn.execute(text(
        "SELECT m.id, m.author, m.body, m.channel, m.hidden, m.created_at, "
        "EXISTS (SELECT 1 FROM contact_reports r WHERE r.message_id = m.id) AS reported "
        "FROM contact_messages m WHERE m.conversation_id = :c ORDER BY m.id"), {"c": conversation_id})).mappings().all()
    return [dict(r) for r in rows]


async def conversations_of(conn: AsyncConnection, user_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """A user's conversations, as sender or recipient, newest activity first (pending ones are
    the sender's only)."""
    rows = (await conn.execute(text(
        f"SELECT {CONVERSATION_COLUMNS}, "
        "CASE WHEN recipient_user_id = :u THEN 'recipient' ELSE 'sender' END AS role, "
        "(SELECT count(*) FROM contact_messages m WHERE m.conversation_id = c.id) AS message_count "
        "FROM contact_conversations c WHERE (sender_user_id = :u) OR (recipient_user_id = :u AND state = 'open') "
        "ORDER BY last_message_at DESC LIMIT :n"), {"u": user_id, "n": limit})).mappings().all()
    return [dict(r) for r in rows]


async def open_pending(conn: AsyncConnection, conversation_id: int) -> bool:
    """pending → open; False when it was not pending (already confirmed: nothing to send again)."""
    return (await conn.execute(text(
        "UPDATE contact_conversations SET state = 'open' WHERE id = :c AND state = 'pending' RETURNING 1"),
        {"c": conversation_id})).first() is not None


async def mark_answered(conn: AsyncConnection, conversation_id: int) -> bool:
    """True on the recipient's first answer."""
    return (await conn.execute(text(
        "UPDATE contact_conversations SET answered_at = now() WHERE id = :c AND answered_at IS NULL RETURNING 1"),
        {"c": conversation_id})).first() is not None


async def first_message(conn: AsyncConnection, conversation_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(text("SELECT id, body FROM contact_messages WHERE conversation_id = :c ORDER BY id "
                                   "LIMIT 1"), {"c": conversation_id})).mappings().first()
    return dict(row) if row else None


# --------------------------------------------------------------------------- moderation


async def message(conn: AsyncConnection, message_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(text(
        "SELECT id, conversation_id, author, hidden FROM contact_messages WHERE id = :m"), {"m": message_id})
    ).mappings().first()
    return dict(row) if row else None


async def set_hidden(conn: AsyncConnection, message_id: int, hidden: bool, moderator_id: int) -> bool:
    row = (await conn.execute(text(
        "UPDATE contact_messages SET hidden = :h, hidden_by = :u, hidden_at = now() WHERE id = :m RETURNING 1"),
        {"h": hidden, "u": moderator_id, "m": message_id})).first()
    if row is not None and hidden:
        await conn.execute(text("UPDATE contact_reports SET resolved_at = now() WHERE message_id = :m "
                                "AND resolved_at IS NULL"), {"m": message_id})
    return row is not None


async def add_report(conn: AsyncConnection, message_id: int, reporter: str, reporter_user_id: int | None,
                     reason: str) -> bool:
    """False when this party already reported this message."""
    return (await conn.execute(text(
        "INSERT INTO contact_reports (message_id, reporter, reporter_user_id, reason) VALUES (:m, :r, :u, :why) "
        "ON CONFLICT (message_id, reporter) DO NOTHING RETURNING 1"),
        {"m": message_id, "r": reporter, "u": reporter_user_id, "why": reason})).first() is not None


async def reports(conn: AsyncConnection, *, open_only: bool = True, limit: int = 200) -> list[dict[str, Any]]:
    rows = (await conn.execute(text(
        "SELECT r.id, r.message_id, r.reporter, r.reason, r.created_at, r.resolved_at, m.body, m.author, m.hidden, "
        "m.conversation_id, c.subject, c.target_kind, c.target_id FROM contact_reports r "
        "JOIN contact_messages m ON m.id = r.message_id JOIN contact_conversations c ON c.id = m.conversation_id "
        "WHERE NOT :o OR r.resolved_at IS NULL ORDER BY r.created_at DESC LIMIT :n"),
        {"o": open_only, "n": limit})).mappings().all()
    return [dict(r) for r in rows]
