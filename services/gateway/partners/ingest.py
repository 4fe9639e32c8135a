"""Partner push onto partner.ingest.v1.

- ``POST /api/v1/ingest``: one JSON object ``{"records": [...], "deletions": [...]}``, ≤ 500 each,
  all-or-nothing validation (400 naming the failing field).
- ``POST /api/v1/ingest/bulk``: many records in one request, as NDJSON (one record per line; a
  line ``{"delete": {"source", "source_record_id"}}`` deletes) or as a JSON array. Every line is
  validated on its own: good ones are published, bad ones are answered with their line number and
  reason. The first :data:`BULK_REJECT_LETTERS` bad lines of a push go to deadletter.v1 one by one
  (a bounded excerpt each); the rest are counted by reason in one summary letter, so a push of bad
  lines cannot fill the broker.

Both count against the key's per-minute limits (requests and records, shared by every replica):
past them the answer is 429 with Retry-After and nothing is published. Every event is stamped
with its provenance (API key id, time received, endpoint).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated, Any

import orjson
import structlog
from faststream.kafka import KafkaBroker
from litestar import Request, post
from litestar.exceptions import (
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.contracts.events import (
    Operation,
    PartnerRecord,
    PushInfo,
    Slug,
    SourceRecordEvent,
    describe_validation_error,
    new_correlation_id,
    record_key,
    utcnow,
)
from libs.contracts.topics import PARTNER_INGEST
from libs.runtime import messaging
from libs.runtime.messaging import dead_letter, publish
from services.gateway.partners.auth import require_scope
from services.gateway.partners.keys import ApiKey, count_usage

log = structlog.get_logger()
MAX_BATCH = 500
BULK_MAX_LINES = 10_000
BULK_MAX_BYTES = 20 * 1024 * 1024
BULK_REJECTS_SHOWN = 100
BULK_REJECT_LETTERS = 100


class DeletionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Slug
    source_record_id: Annotated[str, Field(min_length=1, max_length=200)]


class IngestBatch(BaseModel):
    """A partner push: records to create or update, and records to delete."""

    model_config = ConfigDict(extra="forbid")
    records: Annotated[list[PartnerRecord], Field(max_length=MAX_BATCH)] = Field(default_factory=list)
    deletions: Annotated[list[DeletionRef], Field(max_length=MAX_BATCH)] = Field(default_factory=list)
    correlation_id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")] = None


class IngestAccepted(BaseModel):
    accepted: int
    event_ids: list[str]
    correlation_id: str


@post("/api/v1/ingest", guards=[require_scope("ingest")], status_code=202,
      summary="Partner push: records onto partner.ingest.v1 (API key with ingest scope)")
async def ingest(request: Request, data: IngestBatch) -> IngestAccepted:
    key: ApiKey = request.state.api_key
    items = [(r.source, r.source_record_id) for r in data.records] + \
            [(d.source, d.source_record_id) for d in data.deletions]
    if not items:
        raise ValidationException("nothing to ingest: give records and/or deletions")
    foreign = sorted({s for s, _ in items if s != key.partner})
    if foreign:
        raise PermissionDeniedException(f"this key may only push records of source '{key.partner}', not {foreign}")
    await _within_limits(request, key, len(items))
    extra: dict[str, Any] = {"correlation_id": data.correlation_id} if data.correlation_id else {}
    extra["push"] = PushInfo(api_key_id=key.id, received_at=utcnow(), channel="ingest")
    events = [SourceRecordEvent.upsert(r, **extra) for r in data.records] + [
        SourceRecordEvent(op=Operation.DELETE, source=d.source, source_record_id=d.source_record_id, **extra)
        for d in data.deletions
    ]
    if not data.correlation_id:  # one correlation id for the whole push
        cid = events[0].correlation_id
        events = [e.model_copy(update={"correlation_id": cid}) for e in events]
    broker: KafkaBroker = request.app.state.broker
    async with messaging.deferred_confirms():  # one round trip for the push, acknowledged before the 202
        for event in events:
            await publish(broker, PARTNER_INGEST, event, key=record_key(event.source, event.source_record_id))
    log.info("ingested", partner=key.partner, records=len(data.records), deletions=len(data.deletions),
             correlation_id=events[0].correlation_id)
    return IngestAccepted(accepted=len(events), event_ids=[str(e.event_id) for e in events],
                          correlation_id=events[0].correlation_id)


class DeletionLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delete: DeletionRef


class BulkReject(BaseModel):
    line: int
    reason: str


class BulkAccepted(BaseModel):
    accepted: int
    rejected: int
    rejects: list[BulkReject]
    """The first 100 rejects, with their reasons."""
    reject_kinds: dict[str, int] = Field(default_factory=dict)
    """Every reject counted by kind (the field or problem named first in its reason)."""
    correlation_id: str


async def _within_limits(request: Request, key: ApiKey, records: int) -> None:
    """Count this push against the key's per-minute limits; 429 with Retry-After past them."""
    cfg = request.app.state.settings
    usage = await count_usage(request.app.state.engine, key.id, records)
    over = ("requests" if usage.requests > cfg.ingest_requests_per_minute else
            "records" if usage.records > cfg.ingest_records_per_minute else None)
    if over:
        log.info("ingest rate limited", partner=key.partner, requests=usage.requests, records=usage.records)
        limit = cfg.ingest_requests_per_minute if over == "requests" else cfg.ingest_records_per_minute
        raise TooManyRequestsException(f"this key sent more than {limit} {over} this minute; retry later",
                                       headers={"Retry-After": str(usage.retry_after_s)})


def reject_kind(reason: str) -> str:
    return reason.split(":", 1)[0].strip()[:80] or "other"


async def _dead_letter_rejects(broker: KafkaBroker, partner: str, cid: str,
                               rejects: list[tuple[int, str, bytes]]) -> None:
    """The first rejects one letter each (awaited together), the rest in one summary letter."""
    topic = "http:/api/v1/ingest/bulk"
    await asyncio.gather(*(
        dead_letter(broker, service="gateway", topic=topic, body=raw, reason=f"line {n}: {reason}",
                    error_type="rejected", correlation_id=cid, key=f"{partner}:line-{n}".encode())
        for n, reason, raw in rejects[:BULK_REJECT_LETTERS]))
    rest = rejects[BULK_REJECT_LETTERS:]
    if rest:
        kinds = Counter(reject_kind(reason) for _, reason, _ in rest)
        summary = {"lines": [n for n, _, _ in rest[:1000]], "kinds": dict(kinds.most_common(50))}
        await dead_letter(broker, service="gateway", topic=topic, body=orjson.dumps(summary),
                          reason=f"{len(rest)} more rejected lines of this push (lines {rest[0][0]} to "
                                 f"{rest[-1][0]}), counted by kind in the payload, not stored one by one",
                          error_type="rejected_summary", correlation_id=cid, key=f"{partner}:summary".encode())


def _lines(body: bytes, content_type: str) -> list[tuple[int, Any, bytes]]:
    """(line number, parsed JSON or an Exception, raw bytes) for an NDJSON body or a JSON array."""
    stripped = body.lstrip()
    ndjson = "ndjson" in content_type or "jsonl" in content_type
    if not ndjson and content_type.split(";")[0].strip() == "application/json" and not stripped.startswith(b"["):
        raise ValidationException("with content-type application/json send a JSON array of records "
                                  "(or NDJSON as application/x-ndjson; one object: POST /api/v1/ingest)")
    if stripped.startswith(b"[") and not ndjson:
        try:
            items = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValidationException(f"body is not a JSON array: {exc}") from None
        if not isinstance(items, list):
            raise ValidationException("body must be a JSON array of records, or NDJSON")
        return [(i + 1, item, orjson.dumps(item)) for i, item in enumerate(items)]
    out = []
    for n, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            out.append((n, orjson.loads(raw), raw))
        except orjson.JSONDecodeError as exc:
            out.append((n, ValueError(f"invalid JSON: {exc}"), raw))
    return out


def _event(item: Any, key: ApiKey, push: PushInfo, cid: str) -> SourceRecordEvent:
    """One bulk line as an event; ValueError naming the problem otherwise."""
    if isinstance(item, Exception):
        raise item
    if not isinstance(item, dict):
        raise ValueError(f"a line must be a JSON object, got {type(item).__name__}")  # noqa: TRY004
    try:
        if "delete" in item:
            ref = DeletionLine.model_validate(item).delete
            event = SourceRecordEvent(op=Operation.DELETE, source=ref.source, source_record_id=ref.source_record_id,
                                      push=push, correlation_id=cid)
        else:
            event = SourceRecordEvent.upsert(PartnerRecord.model_validate(item), push=push, correlation_id=cid)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None
    if event.source != key.partner:
        raise ValueError(f"source: this key may only push records of source '{key.partner}', not '{event.source}'")
    return event


@post("/api/v1/ingest/bulk", guards=[require_scope("ingest")], status_code=202,
      request_max_body_size=BULK_MAX_BYTES,
      summary="Bulk partner push: NDJSON (one record per line) or a JSON array; bad lines dead-lettered")
async def ingest_bulk(request: Request) -> BulkAccepted:
    key: ApiKey = request.state.api_key
    body = await request.body()
    lines = _lines(body, request.headers.get("content-type", ""))
    if not lines:
        raise ValidationException("nothing to ingest: send NDJSON lines or a JSON array of records")
    if len(lines) > BULK_MAX_LINES:
        raise ValidationException(f"at most {BULK_MAX_LINES} records per bulk push, got {len(lines)}")
    cid = request.headers.get("x-correlation-id") or new_correlation_id()
    if not all(c.isalnum() or c in "_.:-" for c in cid) or len(cid) > 64:
        raise ValidationException("X-Correlation-Id: 1 to 64 characters among letters, digits and _.:-")
    await _within_limits(request, key, len(lines))
    push = PushInfo(api_key_id=key.id, received_at=utcnow(), channel="bulk")
    events: dict[str, SourceRecordEvent] = {}  # the last line for a record wins
    rejects: list[tuple[int, str, bytes]] = []
    for n, item, raw in lines:
        try:
            event = _event(item, key, push, cid)
        except ValueError as exc:
            rejects.append((n, str(exc)[:2000], raw))
            continue
        events.pop(event.key, None)
        events[event.key] = event
    broker: KafkaBroker = request.app.state.broker
    async with messaging.deferred_confirms():  # one round trip, not one per record
        for event in events.values():
            await publish(broker, PARTNER_INGEST, event, key=event.key)
    await _dead_letter_rejects(broker, key.partner, cid, rejects)
    log.info("ingested", partner=key.partner, channel="bulk", accepted=len(events), rejected=len(rejects),
             correlation_id=cid)
    return BulkAccepted(accepted=len(events), rejected=len(rejects), correlation_id=cid,
                        rejects=[BulkReject(line=n, reason=r) for n, r, _ in rejects[:BULK_REJECTS_SHOWN]],
                        reject_kinds=dict(Counter(reject_kind(r) for _, r, _ in rejects).most_common(50)))


routes = [ingest, ingest_bulk]
