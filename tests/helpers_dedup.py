"""Geocoded records of one commune, as the geocoder hands them to the indexer's deduplication."""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaConsumer

from libs.contracts.events import Location, NormalizedProject, Operation, ProjectGeocoded

ROUBAIX = Location(commune_code="59512", commune_name="Roubaix", postcode="59100", departement_code="59",
                   lat=50.69, lon=3.18, precision="commune")


def roubaix_event(source: str, rid: str, title: str, what: str = "projet") -> ProjectGeocoded:
    """A partner's record ``rid`` in Roubaix, described as « <title> : un <what> à Roubaix. »."""
    project = NormalizedProject(source=source, source_record_id=rid, url=f"https://{source}.example.org/{rid}",
                                title=title, description=f"{title} : un {what} à Roubaix.", content_hash=f"{rid}{title}")
    return ProjectGeocoded(op=Operation.UPSERT, source=source, source_record_id=rid, project=project, location=ROUBAIX)


async def read_published(consumer: AIOKafkaConsumer, want: int, what: str) -> list[dict]:
    """At least ``want`` messages (JSON) from ``consumer``; fails with ``what`` when 5 s bring none."""
    events: list[dict] = []
    while len(events) < want:
        batch = await consumer.getmany(timeout_ms=5000)
        assert batch, f"{what} not published"
        events += [orjson.loads(m.value) for msgs in batch.values() for m in msgs]
    return events
