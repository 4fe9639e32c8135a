"""Partner API keys in PostgreSQL: only a SHA-256 hash is stored; the key is shown once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

SCOPES = ("ingest", "read", "admin")


@dataclass(frozen=True)
class ApiKey:
    id: int
    partner: str
    scopes: tuple[str, ...]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


class ApiKeys:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def create(self, partner: str, scopes=("ingest",), label: str | None = None, key: str | None = None) -> str:
        key = key or "cfr_" + secrets.token_urlsafe(32)
        async with self.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO api_keys (partner, key_hash, prefix, scopes, label) VALUES (:p, :h, :pre, :s, :l) "
                "ON CONFLICT (key_hash) DO UPDATE SET partner=EXCLUDED.partner, scopes=EXCLUDED.scopes, "
                "label=EXCLUDED.label, revoked_at=NULL"),
                {"p": partner, "h": hash_key(key), "pre": key[:8], "s": list(scopes), "l": label})
        return key

    async def revoke(self, prefix_or_key: str) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(text(
                "UPDATE api_keys SET revoked_at=now() WHERE revoked_at IS NULL AND (key_hash=:h OR prefix=:p)"),
                {"h": hash_key(prefix_or_key), "p": prefix_or_key[:8]})
        return result.rowcount

    async def verify(self, key: str | None) -> ApiKey | None:
        if not key or len(key) > 200:
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT id, partner, scopes FROM api_keys WHERE key_hash=:h AND revoked_at IS NULL"),
                {"h": hash_key(key)})).first()
        return ApiKey(row.id, row.partner, tuple(row.scopes)) if row else None


@dataclass(frozen=True)
class Usage:
    requests: int
    records: int
    retry_after_s: int
    """Seconds until the current minute ends (when the counters start again)."""


async def count_usage(engine: AsyncEngine, key_id: int, records: int) -> Usage:
    """Add one request of ``records`` to this key's counters for the current minute (atomic across
    replicas) and return the minute's totals."""
    async with engine.begin() as conn:
        row = (await conn.execute(text(
            "INSERT INTO ingest_usage (api_key_id, minute, requests, records) "
            "VALUES (:k, date_trunc('minute', now()), 1, :n) "
            "ON CONFLICT (api_key_id, minute) DO UPDATE SET requests = ingest_usage.requests + 1, "
            "records = ingest_usage.records + EXCLUDED.records "
            "RETURNING requests, records, "
            "ceil(60 - extract(epoch FROM now() - date_trunc('minute', now())))::int AS retry"),
            {"k": key_id, "n": records})).one()
        if row.requests == 1:  # first push of a minute: forget yesterday's counters
            await conn.execute(text("DELETE FROM ingest_usage WHERE minute < now() - interval '1 day'"))
    return Usage(row.requests, row.records, max(int(row.retry), 1))
