"""Geocoder handlers: one per event type, thin."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from libs.contracts.events import Operation, ProjectGeocoded, ProjectNormalized
from libs.contracts.runtime.messaging import consumer, publish
from libs.contracts.topics import PROJECTS_GEOCODED, PROJECTS_NORMALIZED
from services.geocoder import domain
from services.geocoder.gazetteer import Gazetteer

SERVICE = "geocoder"


def register(broker: KafkaBroker, gazetteer: Gazetteer, workers: int = 1) -> None:
    @consumer(broker, service=SERVICE, topics=PROJECTS_NORMALIZED, group_id=SERVICE,
              model=ProjectNormalized, max_workers=workers)
    async def on_normalized(event: ProjectNormalized) -> str:
        location = None
        if event.op is Operation.UPSERT:
            location = domain.geocode(event.project, gazetteer)
        out = event.child(ProjectGeocoded, op=event.op, source=event.source,
                          source_record_id=event.source_record_id, project=event.project, location=location)
        await publish(broker, PROJECTS_GEOCODED, out, key=event.key)
        return location.precision if location else event.op.value
