"""Indexer handlers: dedup (geocoded → canonical) and indexing (canonical → search index)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from libs.contracts.events import (
    CanonicalChanged,
    DedupOverrideChanged,
    Operation,
    ProjectGeocoded,
)
from libs.contracts.topics import DEDUP_OVERRIDES, DEDUP_PAIRS, PROJECTS_CANONICAL, PROJECTS_GEOCODED
from libs.runtime.messaging import batch_consumer, consumer, publish
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.pairs import pair_events, touched_keys
from services.indexer.adapters.search import IndexWriter
from services.indexer.holder_edits import HolderOverlays, register_holder_edits

SERVICE = "indexer"
DEDUP_GROUP = "indexer-dedup"
SEARCH_GROUP = "indexer-search"
OVERRIDES_GROUP = "indexer-dedup-overrides"


PARTS = ("dedup", "search")
"""What one indexer process consumes: ``dedup`` (geocoded records and operator overrides →
canonical projects) and ``search`` (canonical projects and holder edits → the search index).
Both by default; a deployment may run them as separate processes to scale each on its own."""


def register(broker: KafkaBroker, store: DedupStore, writer: IndexWriter, workers: int = 1,
             parts: tuple[str, ...] = PARTS) -> None:
    unknown = set(parts) - set(PARTS)
    if unknown or not parts:
        raise ValueError(f"indexer parts must be among {PARTS}, got {parts}")
    overlays = HolderOverlays(store.engine)  # holder edits laid over canonical projects (holder_edits.py)
    if "dedup" in parts:
        _register_dedup(broker, store)
    if "search" in parts:
        register_holder_edits(broker, SERVICE, overlays, writer)
        _register_search(broker, overlays, writer)


def _register_dedup(broker: KafkaBroker, store: DedupStore) -> None:
    async def _publish_pairs(keys: set[str], cause) -> None:
        """The moderators' view of the pairs these records are in (dedup.pairs.v1, for the gateway)."""
        for event in await pair_events(store.engine, keys, cause):
            await publish(broker, DEDUP_PAIRS, event, key=event.pairs[0].record_a)

    @batch_consumer(broker, service=SERVICE, topics=PROJECTS_GEOCODED, group_id=DEDUP_GROUP,
                    model=ProjectGeocoded)
    async def on_geocoded(events: list[ProjectGeocoded]) -> list[str]:
        # one transaction per polled batch (same clusters as one by one, see DedupStore.apply_batch)
        changes = await store.apply_batch(events)
        for change in changes:
            await publish(broker, PROJECTS_CANONICAL, change, key=change.canonical_id)
        await _publish_pairs(touched_keys((e.key for e in events), changes), events[0] if events else None)
        return [f"{len(changes)} canonical for {len(events)}"] * len(events)

    @consumer(broker, service=SERVICE, topics=DEDUP_OVERRIDES, group_id=OVERRIDES_GROUP,
              model=DedupOverrideChanged, max_workers=1)
    async def on_override(event: DedupOverrideChanged) -> str:
        changes = await store.apply_override(event.record_a, event.record_b, event, decision=event.decision)
        for change in changes:
            await publish(broker, PROJECTS_CANONICAL, change, key=change.canonical_id)
        await _publish_pairs(touched_keys((event.record_a, event.record_b), changes), event)
        return f"{event.decision}: {len(changes)} canonical"


def _register_search(broker: KafkaBroker, overlays: HolderOverlays, writer: IndexWriter) -> None:
    @batch_consumer(broker, service=SERVICE, topics=PROJECTS_CANONICAL, group_id=SEARCH_GROUP,
                    model=CanonicalChanged)
    async def on_canonical(events: list[CanonicalChanged]) -> list[str]:
        # only the newest version of each project in the batch matters (writes are version-guarded,
        # so order does not); upserts go in one statement for the batch
        latest: dict[str, CanonicalChanged] = {}
        for e in events:
            if e.canonical_id not in latest or e.version > latest[e.canonical_id].version:
                latest[e.canonical_id] = e
        upserts = [(e.project, e.version) for e in latest.values() if e.op is Operation.UPSERT]
        upserts = await overlays.apply(upserts)  # a partner update keeps the holder's fields
        await writer.upsert_many(upserts)  # one statement (PostgreSQL) or one task (Meilisearch) per batch
        for e in latest.values():
            if e.op is Operation.DELETE:
                await writer.delete(e.canonical_id, e.version)
        return [f"{e.op.value} v{e.version}" if latest[e.canonical_id] is e
                else f"superseded by v{latest[e.canonical_id].version}" for e in events]
