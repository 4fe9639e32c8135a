"""Operator overrides for deduplication: force "same" or "not same" for a pair of records.

The decision is stored in PostgreSQL (``dedup_overrides``, read by the indexer at every later
clustering) and a small ``DedupOverrideChanged`` event on ``dedup.overrides.v1`` asks the indexer
to re-cluster around the pair now. The gateway never imports the indexer: it talks to the tables
and the topic only. Every route needs an API key with the ``admin`` scope.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
import structlog
from faststream.kafka import KafkaBroker
from litestar import Request, delete, get, put
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from libs.contracts.events import DedupOverrideChanged
from libs.contracts.topics import DEDUP_OVERRIDES
from libs.runtime.messaging import publish
from services.gateway.partners.auth import require_scope
from services.gateway.partners.keys import ApiKey

log = structlog.get_logger()
RECORD_KEY = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?:[^\s]{1,200}$"
PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
ADMIN = [require_scope("admin")]


class OverrideIn(BaseModel):
    """Two records, named ``source:source_record_id`` (as in a project's ``sources``)."""

    model_config = ConfigDict(extra="forbid")
    record_a: Annotated[str, Field(pattern=RECORD_KEY, max_length=300)]
    record_b: Annotated[str, Field(pattern=RECORD_KEY, max_length=300)]
    decision: Literal["same", "not_same"]
    reason: Annotated[str | None, Field(max_length=500)] = None


def _ordered(a: str, b: str) -> tuple[str, str]:
    if a == b:
        raise ValidationException("record_a and record_b must be two different records")
    return (a, b) if a < b else (b, a)


async def _notify(request: Request, a: str, b: str, decision: str) -> str:
    event = DedupOverrideChanged(record_a=a, record_b=b, decision=decision)
    broker: KafkaBroker = request.app.state.broker
    await publish(broker, DEDUP_OVERRIDES, event, key=f"{a}|{b}")
    return event.correlation_id


@put("/api/v1/admin/dedup/overrides", guards=ADMIN, status_code=200,
     summary="Force two records to be one project (same) or two (not_same); admin scope")
async def put_override(request: Request, data: OverrideIn) -> dict[str, Any]:
    a, b = _ordered(data.record_a, data.record_b)
    key: ApiKey = request.state.api_key
    async with request.app.state.engine.begin() as conn:
        row = (await conn.execute(text(
            """
            INSERT INTO dedup_overrides (record_a, record_b, decision, operator, reason)
            VALUES (:a, :b, :d, :op, :r)
            ON CONFLICT (record_a, record_b) DO UPDATE SET decision=EXCLUDED.decision, operator=EXCLUDED.operator,
                reason=EXCLUDED.reason, created_at=now()
            RETURNING record_a, record_b, decision, operator, reason, created_at
            """), dict(a=a, b=b, d=data.decision, op=f"{key.partner}#{key.id}", r=data.reason))).mappings().one()
    correlation_id = await _notify(request, a, b, data.decision)
    log.info("dedup override", record_a=a, record_b=b, decision=data.decision, operator=row["operator"],
             correlation_id=correlation_id)
    return {**dict(row), "correlation_id": correlation_id}


@delete("/api/v1/admin/dedup/overrides", guards=ADMIN, status_code=200,
        summary="Withdraw an operator decision: scores decide again; admin scope")
async def delete_override(
    request: Request,
    record_a: Annotated[str, Parameter(pattern=RECORD_KEY, max_length=300)],
    record_b: Annotated[str, Parameter(pattern=RECORD_KEY, max_length=300)],
) -> dict[str, Any]:
    a, b = _ordered(record_a, record_b)
    async with request.app.state.engine.begin() as conn:
        gone = (await conn.execute(text("DELETE FROM dedup_overrides WHERE record_a=:a AND record_b=:b RETURNING 1"),
                                   {"a": a, "b": b})).first()
    if gone is None:
        raise NotFoundException("no decision for this pair")
    correlation_id = await _notify(request, a, b, "cleared")
    return {"record_a": a, "record_b": b, "decision": "cleared", "correlation_id": correlation_id}


@get("/api/v1/admin/dedup/overrides", guards=ADMIN, summary="Operator decisions; admin scope")
async def list_overrides(
    request: Request,
    record: Annotated[str | None, Parameter(pattern=RECORD_KEY, max_length=300, description="only this record's")] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT record_a, record_b, decision, operator, reason, created_at FROM dedup_overrides "
            "WHERE CAST(:r AS text) IS NULL OR record_a = :r OR record_b = :r ORDER BY created_at DESC LIMIT :n"),
            {"r": record, "n": limit})).mappings().all()
    return {"overrides": [dict(r) for r in rows]}


@get("/api/v1/admin/dedup/projects/{project_id:str}", guards=ADMIN,
     summary="Why a project's records were merged: each record's best score and every scored pair; admin scope")
async def explain_project(request: Request, project_id: str) -> dict[str, Any]:
    if not PROJECT_ID.match(project_id):
        raise NotFoundException("no such project")
    async with request.app.state.engine.connect() as conn:
        records = (await conn.execute(text(
            "SELECT record_key, source, url, project->>'title' AS title, match_weight FROM dedup_records "
            "WHERE canonical_id=:c AND NOT deleted ORDER BY record_key"), {"c": project_id})).mappings().all()
        if not records:
            raise NotFoundException("no such project")
        keys = [r["record_key"] for r in records]
        pairs = (await conn.execute(text(
            "SELECT m.record_a, m.record_b, m.weight, m.probability, m.matched, m.rule, m.explanation, "
            "ra.canonical_id AS project_a, rb.canonical_id AS project_b FROM dedup_matches m "
            "JOIN dedup_records ra ON ra.record_key = m.record_a JOIN dedup_records rb ON rb.record_key = m.record_b "
            "WHERE m.record_a = ANY(:k) OR m.record_b = ANY(:k) ORDER BY m.weight DESC LIMIT 200"),
            {"k": keys})).mappings().all()
        overrides = (await conn.execute(text(
            "SELECT record_a, record_b, decision, operator, reason, created_at FROM dedup_overrides "
            "WHERE record_a = ANY(:k) OR record_b = ANY(:k)"), {"k": keys})).mappings().all()
    return {
        "id": project_id,
        "records": [dict(r) for r in records],
        "pairs": [{**dict(p), "explanation": orjson.loads(p["explanation"]) if isinstance(p["explanation"], str)
                   else p["explanation"]} for p in pairs],
        "overrides": [dict(o) for o in overrides],
    }


routes = [put_override, delete_override, list_overrides, explain_project]
