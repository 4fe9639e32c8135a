"""Normalizer handlers: one per event type, thin."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from libs.contracts.events import Operation, ProjectNormalized, SourceRecordEvent
from libs.contracts.runtime.messaging import Rejected, consumer, publish
from libs.contracts.topics import CRAWL_RECORDS, PARTNER_INGEST, PROJECTS_NORMALIZED
from services.normalizer import domain

SERVICE = "normalizer"


def register(broker: KafkaBroker, workers: int = 1) -> None:
    @consumer(broker, service=SERVICE, topics=(PARTNER_INGEST, CRAWL_RECORDS), group_id=SERVICE,
              model=SourceRecordEvent, max_workers=workers)
    async def on_source_record(event: SourceRecordEvent) -> str:
        project = None
        if event.op is Operation.UPSERT:
            project = domain.normalize(event.record)
            reason = domain.check(project)
            if reason:
                raise Rejected(reason)
        out = event.child(ProjectNormalized, op=event.op, source=event.source,
                          source_record_id=event.source_record_id, project=project)
        await publish(broker, PROJECTS_NORMALIZED, out, key=event.key)
        return event.op.value
