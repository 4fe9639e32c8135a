"""SQL of accounts: users, sessions, e-mail tokens, throttling, partner organisations, API keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.gateway.accounts.domain import token_hash
from services.gateway.partners.keys import hash_key

USER_COLUMNS = "u.id, u.email, u.display_name, u.roles, u.partner, u.email_verified, u.disabled_at, u.created_at"


def utcnow() -> datetime:
    return datetime.now(UTC)


class EmailTaken(Exception):
    pass


async def create_user(conn: AsyncConnection, email: str, display_name: str, password_hash: str, *,
                      roles: tuple[str, ...] = (), partner: str | None = None, verified: bool = False) -> int:
    row = (await conn.execute(text(
        "INSERT INTO users (email, display_name, password_hash, roles, partner, email_verified) "
        "VALUES (:e, :n, :h, :r, :p, :v) ON CONFLICT DO NOTHING RETURNING id"),
        {"e": email, "n": display_name, "h": password_hash, "r": list(roles), "p": partner, "v": verified})).first()
    if row is None:
        raise EmailTaken(email)
    return row.id


async def user_by_email(conn: AsyncConnection, email: str):
    return (await conn.execute(text(
        f"SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE lower(u.email) = lower(:e)"),
        {"e": email})).first()


async def user_by_id(conn: AsyncConnection, user_id: int):
    return (await conn.execute(text(f"SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.id = :i"),
                               {"i": user_id})).first()


async def set_password(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute(text("UPDATE users SET password_hash = :h WHERE id = :i"), {"h": password_hash, "i": user_id})


async def set_display_name(conn: AsyncConnection, user_id: int, name: str) -> None:
    await conn.execute(text("UPDATE users SET display_name = :n WHERE id = :i"), {"n": name, "i": user_id})


async def mark_verified(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(text("UPDATE users SET email_verified = true WHERE id = :i"), {"i": user_id})


async def add_role(conn: AsyncConnection, user_id: int, role: str) -> None:
    await conn.execute(text(
        "UPDATE users SET roles = array_append(roles, :r) WHERE id = :i AND NOT (:r = ANY(roles))"),
        {"r": role, "i": user_id})


async def remove_role(conn: AsyncConnection, user_id: int, role: str) -> None:
    await conn.execute(text("UPDATE users SET roles = array_remove(roles, :r) WHERE id = :i"), {"r": role, "i": user_id})


async def set_partner(conn: AsyncConnection, user_id: int, slug: str | None) -> None:
    await conn.execute(text("UPDATE users SET partner = :p WHERE id = :i"), {"p": slug, "i": user_id})


async def users_with_role(conn: AsyncConnection, role: str) -> list:
    return list((await conn.execute(text(
        f"SELECT {USER_COLUMNS} FROM users u WHERE :r = ANY(u.roles) ORDER BY lower(u.email)"), {"r": role})).all())


# --------------------------------------------------------------------------- sessions


async def create_session(conn: AsyncConnection, user_id: int, token: str, ttl: timedelta, ip: str | None,
                         user_agent: str | None) -> None:
    await conn.execute(text(
        "INSERT INTO user_sessions (token_hash, user_id, expires_at, ip, user_agent) VALUES (:h, :u, :x, :ip, :ua)"),
        {"h": token_hash(token), "u": user_id, "x": utcnow() + ttl, "ip": (ip or "")[:64] or None,
         "ua": (user_agent or "")[:300] or None})
    await conn.execute(text("UPDATE users SET last_login_at = now() WHERE id = :u"), {"u": user_id})


async def session_user(conn: AsyncConnection, token: str):
    """The user of an unexpired session, refreshing its last-seen time at most once a minute."""
    row = (await conn.execute(text(
        f"SELECT s.id AS session_id, s.last_seen_at, {USER_COLUMNS} FROM user_sessions s "
        "JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = :h AND s.expires_at > now() AND u.disabled_at IS NULL"),
        {"h": token_hash(token)})).first()
    if row is not None and utcnow() - row.last_seen_at > timedelta(minutes=1):
        await conn.execute(text("UPDATE user_sessions SET last_seen_at = now() WHERE id = :i"), {"i": row.session_id})
    return row


async def delete_session(conn: AsyncConnection, token: str) -> int | None:
    row = (await conn.execute(text("DELETE FROM user_sessions WHERE token_hash = :h RETURNING user_id"),
                              {"h": token_hash(token)})).first()
    return row.user_id if row else None


async def delete_sessions_of(conn: AsyncConnection, user_id: int, keep_token: str | None = None) -> None:
    await conn.execute(text("DELETE FROM user_sessions WHERE user_id = :u AND token_hash <> :k"),
                       {"u": user_id, "k": token_hash(keep_token) if keep_token else ""})


# --------------------------------------------------------------------------- e-mailed tokens


async def create_token(conn: AsyncConnection, user_id: int, purpose: str, token: str, ttl_s: int) -> None:
    # a new link replaces the older unused ones of the same purpose
    await conn.execute(text("DELETE FROM user_tokens WHERE user_id = :u AND purpose = :p AND used_at IS NULL"),
                       {"u": user_id, "p": purpose})
    await conn.execute(text(
        "INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at) VALUES (:h, :u, :p, :x)"),
        {"h": token_hash(token), "u": user_id, "p": purpose, "x": utcnow() + timedelta(seconds=ttl_s)})


async def peek_token(conn: AsyncConnection, purpose: str, token: str) -> int | None:
    row = (await conn.execute(text(
        "SELECT user_id FROM user_tokens WHERE token_hash = :h AND purpose = :p AND used_at IS NULL "
        "AND expires_at > now()"), {"h": token_hash(token), "p": purpose})).first()
    return row.user_id if row else None


async def use_token(conn: AsyncConnection, purpose: str, token: str) -> int | None:
    """Consume a valid token (single use): its user id, or None when unknown, used or expired."""
    row = (await conn.execute(text(
        "UPDATE user_tokens SET used_at = now() WHERE token_hash = :h AND purpose = :p AND used_at IS NULL "
        "AND expires_at > now() RETURNING user_id"), {"h": token_hash(token), "p": purpose})).first()
    return row.user_id if row else None


# --------------------------------------------------------------------------- throttling


async def throttle_count(conn: AsyncConnection, key: str, window_s: int) -> int:
    return (await conn.execute(text(
        "SELECT count(*) FROM auth_throttle WHERE key = :k AND at > now() - make_interval(secs => :w)"),
        {"k": key, "w": window_s})).scalar_one()


async def throttle_hit(conn: AsyncConnection, *keys: str) -> None:
    for key in keys:
        await conn.execute(text("INSERT INTO auth_throttle (key) VALUES (:k)"), {"k": key[:300]})


async def throttle_take(conn: AsyncConnection, key: str) -> int:
    """Record one attempt under ``key``; its row id (to forget it when the attempt does not count)."""
    return (await conn.execute(text("INSERT INTO auth_throttle (key) VALUES (:k) RETURNING id"),
                               {"k": key[:300]})).scalar_one()


async def throttle_retry_after(conn: AsyncConnection, key: str, window_s: int, limit: int) -> int:
    """Seconds until ``key`` has fewer than ``limit`` attempts in its window (at least 1)."""
    n = await throttle_count(conn, key, window_s)
    if n < limit:
        return 1
    wait = (await conn.execute(text(
        "SELECT ceil(extract(epoch FROM at + make_interval(secs => :w) - now())) FROM auth_throttle "
        "WHERE key = :k AND at > now() - make_interval(secs => :w) ORDER BY at OFFSET :o LIMIT 1"),
        {"k": key[:300], "w": window_s, "o": n - limit})).scalar()
    return max(int(wait or 1), 1)


async def throttle_forget(conn: AsyncConnection, *ids: int) -> None:
    await conn.execute(text("DELETE FROM auth_throttle WHERE id = ANY(:i)"), {"i": list(ids)})


async def throttle_clear(conn: AsyncConnection, key: str) -> None:
    await conn.execute(text("DELETE FROM auth_throttle WHERE key = :k"), {"k": key})


async def purge_expired(conn: AsyncConnection, keep_s: int = 86400) -> None:
    await conn.execute(text("DELETE FROM auth_throttle WHERE at < now() - make_interval(secs => :w)"), {"w": keep_s})
    await conn.execute(text("DELETE FROM user_sessions WHERE expires_at < now()"))
    await conn.execute(text("DELETE FROM user_tokens WHERE expires_at < now() - interval '7 days'"))


# --------------------------------------------------------------------------- partner organisations and keys


async def create_org(conn: AsyncConnection, slug: str, name: str) -> bool:
    row = (await conn.execute(text(
        "INSERT INTO partner_orgs (slug, name) VALUES (:s, :n) ON CONFLICT DO NOTHING RETURNING slug"),
        {"s": slug, "n": name})).first()
    return row is not None


async def list_orgs(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = (await conn.execute(text(
        "SELECT o.slug, o.name, o.created_at, "
        "(SELECT count(*) FROM users u WHERE u.partner = o.slug AND 'partner' = ANY(u.roles)) AS users, "
        "(SELECT count(*) FROM api_keys k WHERE k.partner = o.slug AND k.revoked_at IS NULL) AS keys "
        "FROM partner_orgs o ORDER BY o.slug"))).mappings().all()
    return [dict(r) for r in rows]


async def get_org(conn: AsyncConnection, slug: str):
    return (await conn.execute(text("SELECT slug, name, created_at FROM partner_orgs WHERE slug = :s"),
                               {"s": slug})).first()


async def org_users(conn: AsyncConnection, slug: str) -> list:
    return list((await conn.execute(text(
        f"SELECT {USER_COLUMNS} FROM users u WHERE u.partner = :s AND 'partner' = ANY(u.roles) "
        "ORDER BY lower(u.email)"), {"s": slug})).all())


async def org_keys(conn: AsyncConnection, slug: str) -> list[dict[str, Any]]:
    rows = (await conn.execute(text(
        "SELECT id, prefix, scopes, label, created_at, revoked_at FROM api_keys WHERE partner = :s "
        "ORDER BY revoked_at IS NOT NULL, id DESC"), {"s": slug})).mappings().all()
    return [dict(r) for r in rows]


async def create_key(conn: AsyncConnection, slug: str, key: str, scopes: tuple[str, ...], label: str | None,
                     created_by: int | None) -> int:
    return (await conn.execute(text(
        "INSERT INTO api_keys (partner, key_hash, prefix, scopes, label, created_by) "
        "VALUES (:p, :h, :pre, :s, :l, :c) RETURNING id"),
        {"p": slug, "h": hash_key(key), "pre": key[:8], "s": list(scopes), "l": label, "c": created_by})).scalar_one()


async def revoke_key(conn: AsyncConnection, slug: str, key_id: int) -> bool:
    row = (await conn.execute(text(
        "UPDATE api_keys SET revoked_at = now() WHERE id = :i AND partner = :p AND revoked_at IS NULL RETURNING id"),
        {"i": key_id, "p": slug})).first()
    return row is not None
