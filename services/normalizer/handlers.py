"""Normalizer handlers: one per event type, thin."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from libs.contracts.events import Operation, ProjectNormalized, SourceRecordEvent
from libs.contracts.topics import CRAWL_RECORDS, PARTNER_INGEST, PROJECTS_NORMALIZED
from libs.runtime.messaging import Rejected, consumer, publish
from services.normalizer import domain

SERVICE = "normalizer"
UNCLASSIFIED = Counter("carrefour_normalizer_unclassified_total",
                       "Normalized projects with a taxonomy facet the normalizer could not classify", ["facet"])


def register(broker: KafkaBroker, workers: int = 1) -> None:
    domain.preload()  # data files and language models before the first record, not during it

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
        for facet in project.unclassified if project else ():
            UNCLASSIFIED.labels(facet).inc()
        return event.op.value
