"""Indexer handlers: dedup (geocoded → canonical) and indexing (canonical → search index)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from libs.contracts.events import CanonicalChanged, Operation, ProjectGeocoded
from libs.contracts.runtime.messaging import consumer, publish
from libs.contracts.topics import PROJECTS_CANONICAL, PROJECTS_GEOCODED
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import IndexWriter

SERVICE = "indexer"
DEDUP_GROUP = "indexer-dedup"
SEARCH_GROUP = "indexer-search"


def register(broker: KafkaBroker, store: DedupStore, writer: IndexWriter, workers: int = 1) -> None:
    @consumer(broker, service=SERVICE, topics=PROJECTS_GEOCODED, group_id=DEDUP_GROUP,
              model=ProjectGeocoded, max_workers=workers)
    async def on_geocoded(event: ProjectGeocoded) -> str:
        changes = await store.apply(event)
        for change in changes:
            await publish(broker, PROJECTS_CANONICAL, change, key=change.canonical_id)
        return f"{len(changes)} canonical"

    @consumer(broker, service=SERVICE, topics=PROJECTS_CANONICAL, group_id=SEARCH_GROUP,
              model=CanonicalChanged, max_workers=workers)
    async def on_canonical(event: CanonicalChanged) -> str:
        if event.op is Operation.UPSERT:
            written = await writer.upsert(event.project, event.version)
        else:
            written = await writer.delete(event.canonical_id, event.version)
        return f"{event.op.value} v{event.version}" if written else "stale_or_replay"
