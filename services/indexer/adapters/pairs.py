"""What the indexer tells the moderators about pairs of records (``dedup.pairs.v1``): after a batch or
an operator decision, the current state of every scored pair touching the records involved — its
score, explanation, whether it waits for a moderator, and both records as a moderator compares them.
Read from the indexer's own tables (``dedup_matches``, ``dedup_records``, ``dedup_overrides``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.dedup_events import (
    DESCRIPTION_CHARS,
    MAX_PAIRS,
    DedupPairsChanged,
    PairState,
    ReviewRecord,
)
from libs.contracts.events import CanonicalChanged, Event

MAX_PAIRS_PER_CALL = 20 * MAX_PAIRS
"""A batch's pairs are bounded: the strongest first (a record in a huge block is never listed whole)."""

_PAIRS = """
    SELECT m.record_a, m.record_b, m.weight, m.probability, m.matched, m.rule, m.explanation,
           (NOT m.matched AND m.rule IS NULL AND m.explanation @> '{"review": true}'
            AND NOT ra.deleted AND NOT rb.deleted AND ra.canonical_id IS DISTINCT FROM rb.canonical_id
            AND o.record_a IS NULL) AS pending,
           ra.source AS source_a, ra.url AS url_a, ra.canonical_id AS canonical_a, ra.project AS project_a,
           ra.location AS location_a, rb.source AS source_b, rb.url AS url_b, rb.canonical_id AS canonical_b,
           rb.project AS project_b, rb.location AS location_b
    FROM dedup_matches m
    JOIN dedup_records ra ON ra.record_key = m.record_a
    JOIN dedup_records rb ON rb.record_key = m.record_b
    LEFT JOIN dedup_overrides o ON o.record_a = m.record_a AND o.record_b = m.record_b
    WHERE m.record_a = ANY(:k) OR m.record_b = ANY(:k)
    ORDER BY m.weight DESC LIMIT :n
"""


def _json(value: Any) -> dict[str, Any]:
    value = orjson.loads(value) if isinstance(value, (str, bytes)) else value
    return value if isinstance(value, dict) else {}


def _cut(value: Any, n: int) -> str | None:
    return str(value)[:n] if value not in (None, "") else None


def _record(row: Any, side: str) -> ReviewRecord:
    project, location = _json(row[f"project_{side}"]), _json(row[f"location_{side}"])
    contact = project.get("contact") if isinstance(project.get("contact"), dict) else {}
    return ReviewRecord(
        key=row[f"record_{side}"], source=row[f"source_{side}"], url=_cut(row[f"url_{side}"], 2048),
        canonical_id=row[f"canonical_{side}"], title=_cut(project.get("title"), 500),
        summary=_cut(project.get("summary"), DESCRIPTION_CHARS),
        description=_cut(project.get("description"), DESCRIPTION_CHARS), address=_cut(project.get("address"), 500),
        holder_name=_cut(project.get("holder_name"), 300), email=_cut(contact.get("email"), 320),
        phone=_cut(contact.get("phone"), 40), website=_cut(contact.get("website") or project.get("website"), 2048),
        commune_name=_cut(location.get("commune_name") or project.get("commune"), 200),
        postcode=_cut(location.get("postcode") or project.get("postcode"), 10))


def touched_keys(records: Iterable[str], changes: Iterable[CanonicalChanged]) -> set[str]:
    """The records of a batch and of every project the batch changed (their pairs may have left the queue)."""
    keys = set(records)
    for change in changes:
        if change.project is not None:
            keys |= {f"{s.partner}:{s.record_id}" for s in change.project.sources}
    return keys


async def pair_events(engine: AsyncEngine, keys: set[str], cause: Event | None = None) -> list[DedupPairsChanged]:
    """The current state of the pairs touching ``keys``, in events of at most ``MAX_PAIRS`` pairs."""
    if not keys:
        return []
    async with engine.connect() as conn:
        rows = (await conn.execute(text(_PAIRS), {"k": sorted(keys), "n": MAX_PAIRS_PER_CALL})).mappings().all()
    pairs = [PairState(record_a=r["record_a"], record_b=r["record_b"], weight=r["weight"],
                       probability=min(1.0, max(0.0, r["probability"])), matched=r["matched"], rule=r["rule"],
                       pending=bool(r["pending"]), explanation=_json(r["explanation"]),
                       a=_record(r, "a"), b=_record(r, "b")) for r in rows]
    make = cause.child if cause is not None else (lambda cls, **f: cls(**f))
    return [make(DedupPairsChanged, pairs=pairs[i:i + MAX_PAIRS]) for i in range(0, len(pairs), MAX_PAIRS)]
