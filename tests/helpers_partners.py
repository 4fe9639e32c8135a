"""The crawler's partner status, as the gateway's subscriber would store it: events built by the crawler's
own code (``CrawlStore.statuses``, the payload of ``crawl.partners.v1``) applied by the gateway's
``partners.directory.apply``. For tests whose gateway runs without subscribers; the end-to-end crawl test
goes through the broker."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from services.crawler.adapters.store import CrawlStore
from services.gateway.partners import directory


async def mirror(engine: AsyncEngine, events=None, runs: list[tuple[str, int]] = ()) -> int:
    """Apply ``events`` (else every partner's current status, then each ``(slug, run_id)`` of ``runs``)."""
    store = CrawlStore(engine)
    if events is None:
        events = list(await store.statuses())
        for slug, run_id in runs:
            events += await store.statuses(slug, run_id)
    async with engine.begin() as conn:
        for event in events:
            await directory.apply(conn, event)
    return len(events)


async def mirror_pairs(engine: AsyncEngine, keys: set[str]) -> int:
    """The indexer's report of the pairs touching ``keys`` (``dedup.pairs.v1``, built by the indexer's own
    code), stored by the gateway's moderation store as its subscriber would."""
    from services.gateway.moderation import store as moderation
    from services.indexer.adapters.pairs import pair_events

    events = await pair_events(engine, keys)
    async with engine.begin() as conn:
        for event in events:
            await moderation.apply(conn, event)
    return sum(len(e.pairs) for e in events)
