"""SQL of the review queue and of the operators' decisions, on the gateway's own tables: ``dedup_pairs``
(the indexer's scored pairs as ``dedup.pairs.v1`` reported them) and ``dedup_decisions`` (every decision
made here, by moderators or through the admin API). A pair waits for a moderator while the indexer says
it is pending and no decision names it."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.contracts.dedup_events import DedupPairsChanged

_PENDING = """
    FROM dedup_pairs m
    WHERE m.pending
      AND NOT EXISTS (SELECT 1 FROM dedup_decisions d WHERE d.record_a = m.record_a AND d.record_b = m.record_b)
"""
DECISION_COLUMNS = "record_a, record_b, decision, operator, reason, created_at"


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _record(side: dict[str, Any]) -> dict[str, Any]:
    """A side of a pair in the shape the rules show (project fields, location)."""
    return {"key": side.get("key"), "source": side.get("source"), "url": side.get("url"),
            "canonical_id": side.get("canonical_id"),
            "project": {"title": side.get("title"), "summary": side.get("summary"),
                        "description": side.get("description"), "address": side.get("address"),
                        "holder_name": side.get("holder_name"),
                        "contact": {"email": side.get("email"), "phone": side.get("phone"),
                                    "website": side.get("website")}},
            "location": {"commune_name": side.get("commune_name"), "postcode": side.get("postcode")}}


async def apply(conn: AsyncConnection, event: DedupPairsChanged) -> int:
    """Store the pairs of one event; a pair already stored from a newer event is kept. Returns the
    number of pairs written."""
    if not event.pairs:
        return 0
    rows = [{"a": p.record_a, "b": p.record_b, "w": p.weight, "p": p.probability, "m": p.matched, "r": p.rule,
             "pending": p.pending, "e": orjson.dumps(p.explanation).decode(), "sa": p.a.model_dump_json(),
             "sb": p.b.model_dump_json(), "at": event.occurred_at} for p in event.pairs]
    result = await conn.execute(text(
        """
        INSERT INTO dedup_pairs (record_a, record_b, weight, probability, matched, rule, pending, explanation,
                                 a, b, updated_at)
        VALUES (:a, :b, :w, :p, :m, :r, :pending, CAST(:e AS jsonb), CAST(:sa AS jsonb), CAST(:sb AS jsonb), :at)
        ON CONFLICT (record_a, record_b) DO UPDATE SET weight = EXCLUDED.weight,
            probability = EXCLUDED.probability, matched = EXCLUDED.matched, rule = EXCLUDED.rule,
            pending = EXCLUDED.pending, explanation = EXCLUDED.explanation, a = EXCLUDED.a, b = EXCLUDED.b,
            updated_at = EXCLUDED.updated_at
        WHERE dedup_pairs.updated_at <= EXCLUDED.updated_at
        """), rows)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)


def _pair(r: Any) -> dict[str, Any]:
    return {"a": _record(_json(r["a"])), "b": _record(_json(r["b"])), "weight": r["weight"],
            "probability": r["probability"], "explanation": _json(r["explanation"])}


async def pending(conn: AsyncConnection, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """The waiting pairs, the likeliest first, each with both records and the explanation."""
    rows = (await conn.execute(text(
        "SELECT m.record_a, m.record_b, m.weight, m.probability, m.explanation, m.a, m.b " + _PENDING +
        " ORDER BY m.weight DESC, m.record_a, m.record_b LIMIT :n OFFSET :o"), {"n": limit, "o": offset})).mappings()
    return [_pair(r) for r in rows.all()]


async def count(conn: AsyncConnection) -> int:
    return (await conn.execute(text("SELECT count(*) " + _PENDING))).scalar_one()


async def pair_known(conn: AsyncConnection, a: str, b: str) -> bool:
    """The indexer has reported this pair (a moderator decides on pairs shown to them)."""
    return (await conn.execute(text("SELECT 1 FROM dedup_pairs WHERE record_a = :a AND record_b = :b"),
                               {"a": a, "b": b})).first() is not None


async def save_decision(conn: AsyncConnection, a: str, b: str, decision: str, operator: str,
                        reason: str | None) -> dict[str, Any]:
    """Upsert an operator decision (``record_a < record_b``) in the gateway's log."""
    row = (await conn.execute(text(
        f"""
        INSERT INTO dedup_decisions (record_a, record_b, decision, operator, reason)
        VALUES (:a, :b, :d, :op, :r)
        ON CONFLICT (record_a, record_b) DO UPDATE SET decision=EXCLUDED.decision, operator=EXCLUDED.operator,
            reason=EXCLUDED.reason, created_at=now()
        RETURNING {DECISION_COLUMNS}
        """), dict(a=a, b=b, d=decision, op=operator, r=reason))).mappings().one()
    return dict(row)


async def delete_decision(conn: AsyncConnection, a: str, b: str) -> bool:
    return (await conn.execute(text("DELETE FROM dedup_decisions WHERE record_a=:a AND record_b=:b RETURNING 1"),
                               {"a": a, "b": b})).first() is not None


async def decisions(conn: AsyncConnection, record: str | None = None, keys: list[str] | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
    rows = (await conn.execute(text(
        f"SELECT {DECISION_COLUMNS} FROM dedup_decisions "
        "WHERE (CAST(:r AS text) IS NULL OR record_a = :r OR record_b = :r) "
        "AND (CAST(:k AS text[]) IS NULL OR record_a = ANY(:k) OR record_b = ANY(:k)) "
        "ORDER BY created_at DESC LIMIT :n"), {"r": record, "k": keys, "n": limit})).mappings().all()
    return [dict(r) for r in rows]


async def pairs_of(conn: AsyncConnection, keys: list[str], limit: int = 200) -> list[dict[str, Any]]:
    """Every reported pair touching ``keys``, the strongest first (for the explanation of a project)."""
    rows = (await conn.execute(text(
        "SELECT record_a, record_b, weight, probability, matched, rule, pending, explanation, a, b "
        "FROM dedup_pairs WHERE record_a = ANY(:k) OR record_b = ANY(:k) ORDER BY weight DESC LIMIT :n"),
        {"k": keys, "n": limit})).mappings().all()
    return [{"record_a": r["record_a"], "record_b": r["record_b"], "weight": r["weight"],
             "probability": r["probability"], "matched": r["matched"], "rule": r["rule"], "pending": r["pending"],
             "explanation": _json(r["explanation"]), "project_a": _json(r["a"]).get("canonical_id"),
             "project_b": _json(r["b"]).get("canonical_id")} for r in rows]
