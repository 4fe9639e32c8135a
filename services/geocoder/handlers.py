"""Geocoder handlers: one per event type, thin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from libs.contracts.events import Operation, ProjectGeocoded, ProjectNormalized
from libs.contracts.topics import PROJECTS_GEOCODED, PROJECTS_NORMALIZED
from libs.runtime.messaging import consumer, publish
from services.geocoder import domain
from services.geocoder.gazetteer import Gazetteer
from services.geocoder.reverse import default_outlines

if TYPE_CHECKING:  # imported by the app only when an online geocoder is configured (httpx, SQLAlchemy: ~20 MB)
    from services.geocoder.adapters.online import AddokGeocoder

SERVICE = "geocoder"
LOCATIONS = Counter("carrefour_geocoder_locations_total",
                    "Projects geocoded, by precision (precision=none: unresolved, kept and still searchable)",
                    ["precision"])


async def locate(project, geocoder: domain.Geocoder, online: AddokGeocoder | None):
    """Offline first; the online geocoder (when configured) only refines a street address."""
    location = geocoder.geocode(project)
    if online is not None and domain.wants_online(project, location):
        q, postcode, citycode = domain.online_query(project, location)
        hit = await online.search(q, postcode=postcode, citycode=citycode)
        location = domain.merge_online(location, hit, geocoder.gaz, online.config.min_score)
    return location


def register(broker: KafkaBroker, gazetteer: Gazetteer, workers: int = 1, online: AddokGeocoder | None = None) -> None:
    geocoder = domain.Geocoder(gazetteer, outlines_loader=default_outlines)

    @consumer(broker, service=SERVICE, topics=PROJECTS_NORMALIZED, group_id=SERVICE,
              model=ProjectNormalized, max_workers=workers)
    async def on_normalized(event: ProjectNormalized) -> str:
        location = None
        if event.op is Operation.UPSERT:
            location = await locate(event.project, geocoder, online)
        out = event.child(ProjectGeocoded, op=event.op, source=event.source,
                          source_record_id=event.source_record_id, project=event.project, location=location)
        await publish(broker, PROJECTS_GEOCODED, out, key=event.key)
        if location is not None:
            LOCATIONS.labels(location.precision).inc()
        return location.precision if location else event.op.value
