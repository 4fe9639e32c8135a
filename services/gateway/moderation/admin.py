"""Operator overrides for deduplication: force "same" or "not same" for a pair of records.

The decision goes in the gateway's log (``dedup_decisions``) and a ``DedupOverrideChanged`` event on
``dedup.overrides.v1`` tells the indexer, which stores it as an override (its ``dedup_overrides``, read
at every later clustering) and re-clusters around the pair now. The explanation of a project comes from
the search engine (its sources) and the gateway's copy of the indexer's scored pairs (``dedup.pairs.v1``).
The gateway never imports the indexer nor reads its tables. Every route needs an API key with the
``admin`` scope.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import structlog
from faststream.kafka import KafkaBroker
from litestar import Request, delete, get, put
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter
from pydantic import BaseModel, ConfigDict, Field

from libs.contracts.events import DedupOverrideChanged
from libs.contracts.topics import DEDUP_OVERRIDES
from libs.runtime.messaging import publish
from services.gateway.moderation import store
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
        row = await store.save_decision(conn, a, b, data.decision, f"{key.partner}#{key.id}", data.reason)
    correlation_id = await _notify(request, a, b, data.decision)
    log.info("dedup override", record_a=a, record_b=b, decision=data.decision, operator=row["operator"],
             correlation_id=correlation_id)
    return {**row, "correlation_id": correlation_id}


@delete("/api/v1/admin/dedup/overrides", guards=ADMIN, status_code=200,
        summary="Withdraw an operator decision: scores decide again; admin scope")
async def delete_override(
    request: Request,
    record_a: Annotated[str, Parameter(pattern=RECORD_KEY, max_length=300)],
    record_b: Annotated[str, Parameter(pattern=RECORD_KEY, max_length=300)],
) -> dict[str, Any]:
    a, b = _ordered(record_a, record_b)
    async with request.app.state.engine.begin() as conn:
        gone = await store.delete_decision(conn, a, b)
    if not gone:
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
        return {"overrides": await store.decisions(conn, record=record, limit=limit)}


@get("/api/v1/admin/dedup/projects/{project_id:str}", guards=ADMIN,
     summary="Why a project's records were merged: its records, each one's best score and every scored pair "
             "the indexer reported; admin scope")
async def explain_project(request: Request, project_id: str) -> dict[str, Any]:
    doc = await request.app.state.search.get(project_id) if PROJECT_ID.match(project_id) else None
    if doc is None:
        raise NotFoundException("no such project")
    sources = (doc.get("project") or {}).get("sources") or []
    keys = sorted(f"{s['partner']}:{s['record_id']}" for s in sources if s.get("partner") and s.get("record_id"))
    async with request.app.state.engine.connect() as conn:
        pairs = await store.pairs_of(conn, keys)
        decided = await store.decisions(conn, keys=keys, limit=1000)
    best = {k: max((p["weight"] for p in pairs if p["matched"] and k in (p["record_a"], p["record_b"])),
                   default=None) for k in keys}
    by_key = {f"{s['partner']}:{s['record_id']}": s for s in sources}
    return {
        "id": project_id,
        "records": [{"record_key": k, "source": by_key[k]["partner"], "url": by_key[k].get("url"),
                     "match_weight": best[k]} for k in keys],
        "pairs": pairs,
        "overrides": decided,
    }


routes = [put_override, delete_override, list_overrides, explain_project]
