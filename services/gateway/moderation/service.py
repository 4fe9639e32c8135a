"""Use cases of the review queue: list it (and publish its size as a metric), record a
moderator's decision in the gateway's log and send it to the indexer (which stores it as an override
and re-clusters around the pair); keep the copy of the indexer's pairs (``dedup.pairs.v1``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.dedup_events import DedupPairsChanged
from libs.contracts.events import DedupOverrideChanged
from libs.contracts.topics import DEDUP_OVERRIDES
from libs.runtime.messaging import publish
from services.gateway.accounts.identity import User
from services.gateway.moderation import rules, store

log = structlog.get_logger()
QUEUE_SIZE = Gauge("carrefour_dedup_review_queue", "Pairs of records waiting for a moderator's decision")
REFRESH_SECONDS = 30.0


class NotFound(LookupError):
    pass


async def queue(engine: AsyncEngine, page: int = 1) -> tuple[list[dict[str, Any]], int]:
    """One page of the waiting pairs, ready for the page, and the queue's size."""
    async with engine.connect() as conn:
        total = await store.count(conn)
        items = await store.pending(conn, rules.PAGE_SIZE, (max(page, 1) - 1) * rules.PAGE_SIZE)
    QUEUE_SIZE.set(total)
    for item in items:
        item["rows"] = rules.side_by_side(item["a"], item["b"])
        item["why"] = rules.explanation_rows(item["explanation"])
        item["percent"] = rules.percent(item["probability"])
    return items, total


async def refresh_metric(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        total = await store.count(conn)
    QUEUE_SIZE.set(total)
    return total


async def decide(engine: AsyncEngine, broker: KafkaBroker, user: User, record_a: str | None, record_b: str | None,
                 choice: str | None, reason: str | None = None, queued_only: bool = True) -> str:
    """Store the decision as an override, then ask the indexer to re-cluster (as the admin API).
    ``queued_only``: the pair must be one the indexer reported (the review queue); a visitor's confirmed
    duplicate report names records the matcher may never have compared."""
    decision = rules.decision(choice)
    a, b = rules.pair(record_a, record_b)
    reason = (reason or "").strip()[:500] or None
    async with engine.begin() as conn:
        if queued_only and not await store.pair_known(conn, a, b):
            raise NotFound("Paire de fiches inconnue.")
        await store.save_decision(conn, a, b, decision, f"moderation:{user.id}", reason)
    event = DedupOverrideChanged(record_a=a, record_b=b, decision=decision)
    await publish(broker, DEDUP_OVERRIDES, event, key=f"{a}|{b}")
    log.info("dedup review decided", record_a=a, record_b=b, decision=decision, moderator=user.id,
             correlation_id=event.correlation_id)
    await refresh_metric(engine)
    return decision


@asynccontextmanager
async def metric_refresher(engine_of) -> AsyncIterator[None]:
    """Keeps the queue-size gauge current between page views (the indexer fills the queue)."""

    async def loop() -> None:
        while True:
            try:
                await refresh_metric(engine_of())
            except Exception as exc:  # the database may restart; the next round tries again
                log.warning("review queue metric not refreshed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(REFRESH_SECONDS)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()


async def apply_pairs(engine: AsyncEngine, event: DedupPairsChanged) -> str:
    async with engine.begin() as conn:
        written = await store.apply(conn, event)
    return f"{written} of {len(event.pairs)} pairs stored"
