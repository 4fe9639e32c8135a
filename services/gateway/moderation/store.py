"""SQL of the review queue. The indexer stores every scored pair in ``dedup_matches`` with its
explanation; a pair in the grey zone carries ``"review": true`` there and is not merged. A pair
waits for a moderator while both records live, no override names it, and nothing else put the two
records in one project."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_PENDING = """
    FROM dedup_matches m
    JOIN dedup_records ra ON ra.record_key = m.record_a AND NOT ra.deleted
    JOIN dedup_records rb ON rb.record_key = m.record_b AND NOT rb.deleted
    WHERE NOT m.matched AND m.rule IS NULL AND m.explanation @> '{"review": true}'
      AND ra.canonical_id IS DISTINCT FROM rb.canonical_id
      AND NOT EXISTS (SELECT 1 FROM dedup_overrides o WHERE o.record_a = m.record_a AND o.record_b = m.record_b)
"""


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _record(row: Any, side: str) -> dict[str, Any]:
    return {"key": row[f"record_{side}"], "source": row[f"source_{side}"], "url": row[f"url_{side}"],
            "canonical_id": row[f"canonical_{side}"], "project": _json(row[f"project_{side}"]) or {},
            "location": _json(row[f"location_{side}"]) or {}}


async def pending(conn: AsyncConnection, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """The waiting pairs, the likeliest first, each with both records and the explanation."""
    rows = (await conn.execute(text(
        "SELECT m.record_a, m.record_b, m.weight, m.probability, m.explanation, "
        "ra.source AS source_a, ra.url AS url_a, ra.canonical_id AS canonical_a, ra.project AS project_a, "
        "ra.location AS location_a, rb.source AS source_b, rb.url AS url_b, rb.canonical_id AS canonical_b, "
        "rb.project AS project_b, rb.location AS location_b " + _PENDING +
        " ORDER BY m.weight DESC, m.record_a, m.record_b LIMIT :n OFFSET :o"), {"n": limit, "o": offset})).mappings()
    return [{"a": _record(r, "a"), "b": _record(r, "b"), "weight": r["weight"], "probability": r["probability"],
             "explanation": _json(r["explanation"])} for r in rows.all()]


async def count(conn: AsyncConnection) -> int:
    return (await conn.execute(text("SELECT count(*) " + _PENDING))).scalar_one()


async def records_exist(conn: AsyncConnection, a: str, b: str) -> bool:
    n = (await conn.execute(text("SELECT count(*) FROM dedup_records WHERE record_key = ANY(:k)"),
                            {"k": [a, b]})).scalar_one()
    return n == 2


async def save_override(conn: AsyncConnection, a: str, b: str, decision: str, operator: str,
                        reason: str | None) -> None:
    """The admin API's upsert of an operator decision (``record_a < record_b``)."""
    await conn.execute(text(
        """
        INSERT INTO dedup_overrides (record_a, record_b, decision, operator, reason)
        VALUES (:a, :b, :d, :op, :r)
        ON CONFLICT (record_a, record_b) DO UPDATE SET decision=EXCLUDED.decision, operator=EXCLUDED.operator,
            reason=EXCLUDED.reason, created_at=now()
        """), dict(a=a, b=b, d=decision, op=operator, r=reason))
