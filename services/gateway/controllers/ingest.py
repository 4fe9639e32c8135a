"""Partner push: ``POST /api/v1/ingest`` onto partner.ingest.v1."""

from __future__ import annotations

from typing import Annotated

import structlog
from faststream.kafka import KafkaBroker
from litestar import Request, post
from litestar.exceptions import PermissionDeniedException, ValidationException
from pydantic import BaseModel, ConfigDict, Field

from libs.contracts.events import (
    Operation,
    PartnerRecord,
    Slug,
    SourceRecordEvent,
    record_key,
)
from libs.contracts.runtime.messaging import publish
from libs.contracts.topics import PARTNER_INGEST
from services.gateway.adapters.keys import ApiKey
from services.gateway.controllers.auth import require_scope

log = structlog.get_logger()
MAX_BATCH = 500


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
    extra = {"correlation_id": data.correlation_id} if data.correlation_id else {}
    events = [SourceRecordEvent.upsert(r, **extra) for r in data.records] + [
        SourceRecordEvent(op=Operation.DELETE, source=d.source, source_record_id=d.source_record_id, **extra)
        for d in data.deletions
    ]
    if not extra:  # one correlation id for the whole push
        cid = events[0].correlation_id
        events = [e.model_copy(update={"correlation_id": cid}) for e in events]
    broker: KafkaBroker = request.app.state.broker
    for event in events:
        await publish(broker, PARTNER_INGEST, event, key=record_key(event.source, event.source_record_id))
    log.info("ingested", partner=key.partner, records=len(data.records), deletions=len(data.deletions),
             correlation_id=events[0].correlation_id)
    return IngestAccepted(accepted=len(events), event_ids=[str(e.event_id) for e in events],
                          correlation_id=events[0].correlation_id)


routes = [ingest]
