"""The audit log: who did what to what, written inside the caller's transaction."""

from __future__ import annotations

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_DETAILS = 8_000


async def audit(conn: AsyncConnection, actor_id: int | None, action: str, target: str,
                details: dict | None = None) -> None:
    """One ``audit_log`` row (action e.g. "account.login", target e.g. "user:12"); never put passwords,
    tokens or message bodies in ``details``."""
    raw = orjson.dumps(details or {}, default=str).decode()
    if len(raw) > MAX_DETAILS:
        raw = orjson.dumps({"truncated": True}).decode()
    await conn.execute(text(
        "INSERT INTO audit_log (actor_id, action, target, details) VALUES (:a, :act, :t, CAST(:d AS jsonb))"),
        {"a": actor_id, "act": action[:100], "t": target[:200], "d": raw})
