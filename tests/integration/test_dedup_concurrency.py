"""Two dedup consumers at once (no global lock: advisory locks per blocking key and per project)
give the clusters one consumer gives: the labelled set split by record key, as the broker's
partitions split it, applied in batches by two stores on two connection pools concurrently."""

from __future__ import annotations

import asyncio
import random
import zlib

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.indexer.adapters.db import DedupStore
from tests.data.dedup.evaluate import load, run_store, to_event


def partition(assignment: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for k, c in assignment.items():
        groups.setdefault(c, set()).add(k)
    return {frozenset(g) for g in groups.values()}


async def test_two_consumers_give_the_clusters_of_one(engine, stack):
    """Three rounds, each with batches of random sizes (seeded) and short random pauses, so that
    the two consumers' transactions interleave differently each time."""
    from tests.conftest import fresh_database

    _, _, alone = await run_store(engine)
    events = [to_event(r) for r in load()]
    shares = [[e for e in events if zlib.crc32(e.key.encode()) % 2 == i] for i in range(2)]
    assert all(len(s) > 50 for s in shares)
    for round_ in range(3):
        url = fresh_database(stack, f"two_consumers{round_}")
        engines = [create_async_engine(url, pool_size=2) for _ in range(2)]
        try:
            stores = [DedupStore(e) for e in engines]

            async def consume(store: DedupStore, share, pick: random.Random) -> None:
                i = 0
                while i < len(share):
                    n = pick.randint(1, 12)
                    await store.apply_batch(share[i:i + n])
                    i += n
                    if pick.random() < 0.3:
                        await asyncio.sleep(pick.random() / 100)

            await asyncio.gather(*(consume(s, share, random.Random(round_ * 2 + i))
                                   for i, (s, share) in enumerate(zip(stores, shares, strict=True))))
            together = await stores[0].clusters()
            async with engines[0].connect() as conn:
                sizes = dict((await conn.execute(text(
                    "SELECT block_key, n FROM dedup_block_sizes WHERE n <> 0"))).all())
                counted = dict((await conn.execute(text(
                    "SELECT block_key, count(*) FROM dedup_blocks GROUP BY block_key"))).all())
                live = (await conn.execute(text(
                    "SELECT count(*) FROM canonical_projects WHERE NOT deleted"))).scalar()
        finally:
            for e in engines:
                await e.dispose()
        assert partition(together) == partition(alone), f"round {round_}"
        assert sizes == counted  # every block size written by the two consumers adds up
        assert live == len(set(together.values()))  # one live project per cluster, none left behind


async def test_a_batch_is_one_transaction(engine, monkeypatch):
    """A batch that fails after its records were written leaves nothing behind: the records,
    blocks and block sizes written before the failure are rolled back with it (statements sent
    straight to the driver included), and the batch applies whole when delivered again."""
    import services.indexer.adapters.db as db

    events = [to_event(r) for r in load()[:20]]
    store = DedupStore(engine)
    real_match = db.match
    calls = 0

    async def failing_match(*args, **kwargs):
        nonlocal calls
        calls += 1
        raise RuntimeError("injected failure after the records were written")

    monkeypatch.setattr(db, "match", failing_match)
    with pytest.raises(RuntimeError, match="injected"):
        await store.apply_batch(events)
    assert calls == 1  # the fault hit the batch in flight, after the records' statement
    async with engine.connect() as conn:
        left = [(await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar()
                for t in ("dedup_records", "dedup_blocks", "dedup_block_sizes", "canonical_projects")]
    assert left == [0, 0, 0, 0]
    monkeypatch.setattr(db, "match", real_match)
    assert await store.apply_batch(events)
    assert len(await store.clusters()) == 20


async def test_a_deadlock_victim_runs_again(engine):
    """Two transactions locking two projects in crossed order: PostgreSQL picks a victim, which
    is rolled back and run again; both end."""
    from services.indexer.adapters.candidates import CLUSTER_LOCKS, lock
    from services.indexer.adapters.db import _again_if_deadlocked

    other = create_async_engine(engine.url.render_as_string(hide_password=False))
    runs: list[str] = []

    async def crossed(eng, first: str, second: str) -> str:
        runs.append(first)
        async with eng.begin() as conn:
            await conn.execute(text("SELECT 1"))
            await lock(conn, CLUSTER_LOCKS, [first])
            await asyncio.sleep(0.3)
            await lock(conn, CLUSTER_LOCKS, [second])
        return first

    try:
        done = await asyncio.gather(_again_if_deadlocked(lambda: crossed(engine, "p-a", "p-b")),
                                    _again_if_deadlocked(lambda: crossed(other, "p-b", "p-a")))
    finally:
        await other.dispose()
    assert done == ["p-a", "p-b"]
    assert len(runs) == 3  # one of the two ran twice
