"""Operator actions: partner organisations, partner users, API keys, moderator grants (audited)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.gateway.accounts import domain, store
from services.gateway.accounts.audit import audit
from services.gateway.accounts.domain import AccountError


class NotFound(LookupError):
    pass


class Conflict(Exception):
    pass


MAX_ID = 2**63 - 1


def _check_id(value: int) -> int:
    """Ids from a URL: out of the bigint range is simply not found (never a database error)."""
    if not 0 < value <= MAX_ID:
        raise NotFound(str(value))
    return value


def _user(row) -> dict[str, Any]:
    return {"id": row.id, "email": row.email, "display_name": row.display_name, "email_verified": row.email_verified}


def _key(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "prefix": row["prefix"], "scopes": list(row["scopes"]), "label": row["label"],
            "created_at": row["created_at"].isoformat(),
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None}


async def list_orgs(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await store.list_orgs(conn)
    return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]


async def create_org(engine: AsyncEngine, actor: int, slug_raw: str, name_raw: str) -> dict[str, Any]:
    slug, name = domain.check_slug(slug_raw), domain.check_org_name(name_raw)
    async with engine.begin() as conn:
        if not await store.create_org(conn, slug, name):
            raise Conflict(f"L'organisation « {slug} » existe déjà.")
        await audit(conn, actor, "partner.created", f"partner:{slug}", {"name": name})
    return {"slug": slug, "name": name}


async def org_detail(engine: AsyncEngine, slug: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        org = await store.get_org(conn, slug) if domain.SLUG.match(slug or "") else None
        if org is None:
            raise NotFound(slug)
        users = await store.org_users(conn, slug)
        keys = await store.org_keys(conn, slug)
    return {"slug": org.slug, "name": org.name, "created_at": org.created_at.isoformat(),
            "users": [_user(u) for u in users], "keys": [_key(k) for k in keys]}


async def _existing_org(conn, slug: str):
    org = await store.get_org(conn, slug) if domain.SLUG.match(slug or "") else None
    if org is None:
        raise NotFound(slug)
    return org


async def attach_user(engine: AsyncEngine, actor: int, slug: str, email_raw: str) -> dict[str, Any]:
    email = domain.normalize_email(email_raw)
    async with engine.begin() as conn:
        await _existing_org(conn, slug)
        row = await store.user_by_email(conn, email)
        if row is None:
            raise AccountError("email", "Aucun compte n'existe pour cette adresse : la personne doit d'abord s'inscrire.")
        await store.set_partner(conn, row.id, slug)
        await store.add_role(conn, row.id, "partner")
        await audit(conn, actor, "partner.user_attached", f"user:{row.id}", {"partner": slug, "previous": row.partner})
    return _user(row)


async def detach_user(engine: AsyncEngine, actor: int, slug: str, user_id: int) -> None:
    _check_id(user_id)
    async with engine.begin() as conn:
        await _existing_org(conn, slug)
        row = await store.user_by_id(conn, user_id)
        if row is None or row.partner != slug:
            raise NotFound(str(user_id))
        await store.set_partner(conn, user_id, None)
        await store.remove_role(conn, user_id, "partner")
        await audit(conn, actor, "partner.user_detached", f"user:{user_id}", {"partner": slug})


async def issue_key(engine: AsyncEngine, actor: int, slug: str, scopes_raw, label_raw: str | None) -> dict[str, Any]:
    """A new API key for the organisation: returned in clear this once, only its hash is kept."""
    scopes, label = domain.check_scopes(scopes_raw), domain.check_label(label_raw)
    key = "cfr_" + secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await _existing_org(conn, slug)
        key_id = await store.create_key(conn, slug, key, scopes, label, actor)
        await audit(conn, actor, "partner.key_issued", f"partner:{slug}",
                    {"key_id": key_id, "prefix": key[:8], "scopes": list(scopes)})
    return {"id": key_id, "key": key, "prefix": key[:8], "scopes": list(scopes), "label": label, "partner": slug}


async def revoke_key(engine: AsyncEngine, actor: int, slug: str, key_id: int) -> None:
    _check_id(key_id)
    async with engine.begin() as conn:
        await _existing_org(conn, slug)
        if not await store.revoke_key(conn, slug, key_id):
            raise NotFound(str(key_id))
        await audit(conn, actor, "partner.key_revoked", f"partner:{slug}", {"key_id": key_id})


async def list_moderators(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await store.users_with_role(conn, "moderator")
    return [_user(r) for r in rows]


async def grant_moderator(engine: AsyncEngine, actor: int, email_raw: str) -> dict[str, Any]:
    email = domain.normalize_email(email_raw)
    async with engine.begin() as conn:
        row = await store.user_by_email(conn, email)
        if row is None:
            raise AccountError("email", "Aucun compte n'existe pour cette adresse : la personne doit d'abord s'inscrire.")
        await store.add_role(conn, row.id, "moderator")
        await audit(conn, actor, "account.moderator_granted", f"user:{row.id}")
    return _user(row)


async def revoke_moderator(engine: AsyncEngine, actor: int, user_id: int) -> None:
    _check_id(user_id)
    async with engine.begin() as conn:
        row = await store.user_by_id(conn, user_id)
        if row is None or "moderator" not in (row.roles or []):
            raise NotFound(str(user_id))
        await store.remove_role(conn, user_id, "moderator")
        await audit(conn, actor, "account.moderator_revoked", f"user:{user_id}")
