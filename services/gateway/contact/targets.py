"""Who a message about a project or a post goes to (reads the other areas' stores; no writes).

- a project: its verified holder (``claims.store.holder_of``) — an account; when it has none, the
  project's published contact e-mail (from the partners' data), never shown to the visitor;
  neither: the project cannot be contacted;
- a matchmaking post: its author, while the post is open and not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from services.gateway.accounts import store as accounts_store
from services.gateway.claims.store import contact_email_of, holder_of
from services.gateway.matchmaking import store as mm_store

log = structlog.get_logger()


@dataclass(frozen=True)
class Target:
    kind: str                 # 'project' | 'post'
    id: str
    title: str
    project_id: str | None
    recipient_user_id: int | None
    recipient_email: str | None   # only when no account: the project's published contact
    post_kind: str | None = None
    themes: list[str] = field(default_factory=list)
    departement: str | None = None


async def user_contact(conn: AsyncConnection, user_id: int) -> tuple[str, str] | None:
    """(e-mail, display name) of an active account, or None."""
    row = await accounts_store.user_by_id(conn, user_id)
    if row is None or row.disabled_at is not None:
        return None
    return row.email, row.display_name


async def recipient_address(conn: AsyncConnection, conv: dict[str, Any]) -> str | None:
    """Where mail for a conversation's recipient goes: for a project's holder, the contact e-mail
    they set (claims) or their account's; for a post's author, their account's; else the
    project's published contact."""
    if conv["recipient_user_id"] is None:
        return conv["recipient_email"]
    if conv["target_kind"] == "project":
        chosen = await contact_email_of(conn, conv["target_id"])
        holder = await holder_of(conn, conv["target_id"])
        if chosen and holder == conv["recipient_user_id"]:
            return chosen
    found = await user_contact(conn, conv["recipient_user_id"])
    return found[0] if found else None


async def resolve(conn: AsyncConnection, search: Any, kind: str, target_id: str) -> Target | None:
    """The target and its recipient, or None when it does not exist / cannot be contacted."""
    if kind == "project":
        doc = await search.get(target_id)
        if doc is None:
            return None
        holder = await holder_of(conn, target_id)
        if holder is not None and await user_contact(conn, holder) is not None:
            return Target("project", target_id, doc.get("title") or target_id, target_id, holder, None,
                          themes=list(doc.get("theme") or doc.get("themes") or []),
                          departement=doc.get("departement"))
        contact = ((doc.get("project") or {}).get("contact") or {}).get("email")
        if not contact:
            return None
        return Target("project", target_id, doc.get("title") or target_id, target_id, None, str(contact).lower(),
                      themes=list(doc.get("theme") or doc.get("themes") or []), departement=doc.get("departement"))
    if kind == "post":
        post = await mm_store.get_post(conn, target_id)
        if post is None or post.get("hidden") or post.get("status") != "open":
            return None
        if await user_contact(conn, post["author_id"]) is None:
            return None
        return Target("post", target_id, post.get("title") or target_id, post.get("project_id"), post["author_id"],
                      None, post_kind=post.get("kind"), themes=list(post.get("themes") or []),
                      departement=post.get("departement"))
    return None


async def post_facts(conn: AsyncConnection, post_id: str) -> dict[str, Any] | None:
    """The post (even closed or hidden), for the ``answered`` event."""
    return await mm_store.get_post(conn, post_id)
