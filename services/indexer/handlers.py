"""Indexer handlers: dedup (geocoded → canonical) and indexing (canonical → search index)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from libs.contracts.events import (
    CanonicalChanged,
    DedupOverrideChanged,
    Operation,
    ProjectGeocoded,
)
from libs.contracts.runtime.messaging import batch_consumer, consumer, publish
from libs.contracts.topics import DEDUP_OVERRIDES, PROJECTS_CANONICAL, PROJECTS_GEOCODED
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import IndexWriter

SERVICE = "indexer"
DEDUP_GROUP = "indexer-dedup"
SEARCH_GROUP = "indexer-search"
OVERRIDES_GROUP = "indexer-dedup-overrides"


def register(broker: KafkaBroker, store: DedupStore, writer: IndexWriter, workers: int = 1) -> None:
    @batch_consumer(broker, service=SERVICE, topics=PROJECTS_GEOCODED, group_id=DEDUP_GROUP,
                    model=ProjectGeocoded)
    async def on_geocoded(events: list[ProjectGeocoded]) -> list[str]:
        # one transaction per polled batch (same clusters as one by one, see DedupStore.apply_batch)
        changes = await store.apply_batch(events)
        for change in changes:
            await publish(broker, PROJECTS_CANONICAL, change, key=change.canonical_id)
        return [f"{len(changes)} canonical for {len(events)}"] * len(events)

    @consumer(broker, service=SERVICE, topics=DEDUP_OVERRIDES, group_id=OVERRIDES_GROUP,
              model=DedupOverrideChanged, max_workers=1)
    async def on_override(event: DedupOverrideChanged) -> str:
        changes = await store.apply_override(event.record_a, event.record_b, event)
        for change in changes:
            await publish(broker, PROJECTS_CANONICAL, change, key=change.canonical_id)
        return f"{event.decision}: {len(changes)} canonical"

    @consumer(broker, service=SERVICE, topics=PROJECTS_CANONICAL, group_id=SEARCH_GROUP,
              model=CanonicalChanged, max_workers=workers)
    async def on_canonical(event: CanonicalChanged) -> str:
        if event.op is Operation.UPSERT:
            written = await writer.upsert(event.project, event.version)
        else:
            written = await writer.delete(event.canonical_id, event.version)
        return f"{event.op.value} v{event.version}" if written else "stale_or_replay"
