"""SQL of claims and holder edits (tables of migration 0007). Every function takes the caller's
connection, so it runs inside the caller's transaction.

Used by other areas: ``holder_of`` (who holds a project) and ``projects_of`` (what a user holds),
``contact_email_of`` (where the platform's contact form writes for a project; never shown)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

CLAIM_COLUMNS = ("c.id, c.project_id, c.user_id, c.status, c.project_title, c.sources, c.message, c.contact_email, "
                 "c.token_expires_at, c.created_at, c.decided_at, c.decided_by, c.decided_via, c.reason")


class AlreadyHeld(Exception):
    """The project already has a holder."""


class AlreadyPending(Exception):
    """This user already has a pending claim on the project."""


# --------------------------------------------------------------------------- used by other areas


async def holder_of(conn: AsyncConnection, project_id: str) -> int | None:
    """The user id of the project's holder (its approved claim), or None."""
    return (await conn.execute(text(
        "SELECT user_id FROM claims WHERE project_id = :p AND status = 'approved'"), {"p": project_id})).scalar()


async def projects_of(conn: AsyncConnection, user_id: int) -> list[str]:
    """Ids of the projects the user holds, oldest claim first."""
    rows = await conn.execute(text(
        "SELECT project_id FROM claims WHERE user_id = :u AND status = 'approved' ORDER BY decided_at, project_id"),
        {"u": user_id})
    return [r.project_id for r in rows]


async def contact_email_of(conn: AsyncConnection, project_id: str) -> str | None:
    """Where messages for the project's holder go: the contact e-mail the holder set, else the
    holder's account e-mail; None when the project has no holder. Never publish it."""
    return (await conn.execute(text(
        """
        SELECT coalesce(e.contact_email, u.email) FROM claims c JOIN users u ON u.id = c.user_id
        LEFT JOIN claims_holder_edits e ON e.project_id = c.project_id
        WHERE c.project_id = :p AND c.status = 'approved' AND u.disabled_at IS NULL
        """), {"p": project_id})).scalar()


# --------------------------------------------------------------------------- claims


async def create_claim(conn: AsyncConnection, *, project_id: str, user_id: int, project_title: str,
                       sources: list[str], message: str | None, contact_email: str | None,
                       token_hash: str | None, token_expires_at: datetime | None) -> int:
    """A pending claim. Raises AlreadyHeld / AlreadyPending."""
    if await holder_of(conn, project_id) is not None:
        raise AlreadyHeld(project_id)
    try:
        async with conn.begin_nested():
            return (await conn.execute(text(
                """
                INSERT INTO claims (project_id, user_id, project_title, sources, message, contact_email, token_hash,
                                    token_expires_at)
                VALUES (:p, :u, :t, :s, :m, :e, :h, :x) RETURNING id
                """), dict(p=project_id, u=user_id, t=project_title[:300], s=sources, m=message, e=contact_email,
                           h=token_hash, x=token_expires_at))).scalar_one()
    except IntegrityError:
        raise AlreadyPending(project_id) from None


async def claim(conn: AsyncConnection, claim_id: int, *, for_update: bool = False):
    return (await conn.execute(text(
        f"SELECT {CLAIM_COLUMNS}, u.email AS user_email, u.display_name AS user_name FROM claims c "
        f"JOIN users u ON u.id = c.user_id WHERE c.id = :i{' FOR UPDATE OF c' if for_update else ''}"),
        {"i": claim_id})).first()


async def claim_by_token(conn: AsyncConnection, token_hash: str, *, for_update: bool = False):
    return (await conn.execute(text(
        f"SELECT {CLAIM_COLUMNS}, u.email AS user_email, u.display_name AS user_name FROM claims c "
        f"JOIN users u ON u.id = c.user_id WHERE c.token_hash = :h{' FOR UPDATE OF c' if for_update else ''}"),
        {"h": token_hash})).first()


async def claims_of_user(conn: AsyncConnection, user_id: int, limit: int = 100) -> list[Any]:
    return list(await conn.execute(text(
        f"SELECT {CLAIM_COLUMNS} FROM claims c WHERE c.user_id = :u ORDER BY c.created_at DESC, c.id DESC LIMIT :n"),
        {"u": user_id, "n": limit}))


async def pending_for_review(conn: AsyncConnection, *, partner: str | None, everything: bool,
                             limit: int = 200) -> list[Any]:
    """Pending claims a reviewer may decide: all of them for an operator (``everything``), those on
    projects published by ``partner`` for a partner user, nothing otherwise."""
    if not everything and not partner:
        return []
    where = "c.status = 'pending'" + ("" if everything else " AND :partner = ANY(c.sources)")
    return list(await conn.execute(text(
        f"SELECT {CLAIM_COLUMNS}, u.email AS user_email, u.display_name AS user_name FROM claims c "
        f"JOIN users u ON u.id = c.user_id WHERE {where} ORDER BY c.created_at, c.id LIMIT :n"),
        {"partner": partner, "n": limit}))


async def decide(conn: AsyncConnection, claim_id: int, status: str, *, by: int | None, via: str,
                 reason: str | None = None) -> bool:
    """Move a pending claim to ``status``; False when it was not pending any more. Approving makes
    the claimant the holder and rejects the other pending claims on the project (AlreadyHeld when
    someone else holds it already)."""
    try:
        async with conn.begin_nested():
            row = (await conn.execute(text(
                """
                UPDATE claims SET status = :s, decided_at = now(), decided_by = :b, decided_via = :v, reason = :r,
                    token_hash = NULL
                WHERE id = :i AND status = 'pending' RETURNING project_id
                """), dict(s=status, b=by, v=via, r=reason, i=claim_id))).first()
    except IntegrityError:
        raise AlreadyHeld(claim_id) from None
    if row is None:
        return False
    if status == "approved":
        await conn.execute(text(
            """
            UPDATE claims SET status = 'rejected', decided_at = now(), decided_via = 'system', token_hash = NULL,
                reason = 'un autre porteur a été confirmé'
            WHERE project_id = :p AND status = 'pending'
            """), {"p": row.project_id})
    return True


async def revoke(conn: AsyncConnection, project_id: str, *, by: int | None, reason: str | None) -> int | None:
    """End the project's holding (an operator's decision); returns the former holder's id."""
    return (await conn.execute(text(
        """
        UPDATE claims SET status = 'revoked', decided_at = now(), decided_by = :b, decided_via = 'operator',
            reason = :r
        WHERE project_id = :p AND status = 'approved' RETURNING user_id
        """), {"p": project_id, "b": by, "r": reason})).scalar()


# --------------------------------------------------------------------------- holder edits


async def holder_edits(conn: AsyncConnection, project_id: str):
    """The row of what the holder set (``fields`` dict, ``contact_email``, ``version``), or None."""
    return (await conn.execute(text(
        "SELECT project_id, holder_id, version, fields, contact_email, updated_at FROM claims_holder_edits "
        "WHERE project_id = :p"), {"p": project_id})).first()


async def save_holder_edits(conn: AsyncConnection, project_id: str, holder_id: int | None,
                            fields: dict[str, Any], contact_email: str | None) -> int:
    """Store the holder's published fields and private contact e-mail; returns the new version."""
    return (await conn.execute(text(
        """
        INSERT INTO claims_holder_edits (project_id, holder_id, version, fields, contact_email)
        VALUES (:p, :h, 1, CAST(:f AS jsonb), :e)
        ON CONFLICT (project_id) DO UPDATE SET holder_id = EXCLUDED.holder_id,
            version = claims_holder_edits.version + 1, fields = EXCLUDED.fields,
            contact_email = EXCLUDED.contact_email, updated_at = now()
        RETURNING version
        """), {"p": project_id, "h": holder_id, "f": orjson.dumps(fields).decode(), "e": contact_email})).scalar_one()


async def recent_claims(conn: AsyncConnection, user_id: int, hours: int = 24) -> int:
    """How many claims the user made in the last ``hours`` (each may e-mail a third party)."""
    return (await conn.execute(text(
        "SELECT count(*) FROM claims WHERE user_id = :u AND created_at > now() - make_interval(hours => :h)"),
        {"u": user_id, "h": hours})).scalar_one()


async def reviewer_emails(conn: AsyncConnection, sources: list[str], limit: int = 20) -> list[str]:
    """Who to tell about a claim waiting for review: the verified partner users of the project's
    sources, else the operators."""
    rows = await conn.execute(text(
        """
        SELECT email FROM users WHERE disabled_at IS NULL AND email_verified AND 'partner' = ANY(roles)
            AND partner = ANY(:s)
        ORDER BY id LIMIT :n
        """), {"s": sources, "n": limit})
    found = [r.email for r in rows]
    if found:
        return found
    rows = await conn.execute(text(
        "SELECT email FROM users WHERE disabled_at IS NULL AND 'operator' = ANY(roles) ORDER BY id LIMIT :n"),
        {"n": min(limit, 5)})
    return [r.email for r in rows]
