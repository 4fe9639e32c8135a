"""Candidate pairs, their features and the dedup locks, for ``DedupStore`` (PostgreSQL side).

Features are kept in memory (``FeatureCache``), each stamped with the record's ``last_seen`` (set
by every upsert), so a candidate whose stored stamp still matches is not read nor parsed again.
Candidate pairs come from one query per batch on the raw asyncpg connection (no ORM rows).

Locks: no global lock. A transaction takes a transaction-scoped advisory lock per blocking key of
the records it writes (two records that could be compared are never written concurrently, so the
later one always sees the earlier), then one per canonical project it re-clusters or re-merges.
Keys are taken in sorted order in one statement; the rare cycle between two transactions that
discover more projects to lock is broken by PostgreSQL's deadlock detection and retried whole
(``DEADLOCK``)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.contracts.events import Location, NormalizedProject
from services.indexer.dedup import Features, features
from services.indexer.dedup.features import StaleFeatures

BLOCK_LOCKS = 1
CLUSTER_LOCKS = 2
DEADLOCK = "40P01"


def _lock_id(key: str) -> int:
    h = zlib.crc32(key.encode())
    return h - (1 << 32) if h >= 1 << 31 else h


async def raw(conn: AsyncConnection):
    """The asyncpg connection under ``conn`` (same transaction)."""
    return (await conn.get_raw_connection()).driver_connection


async def lock(conn: AsyncConnection, space: int, keys: Iterable[str]) -> None:
    ids = sorted({_lock_id(k) for k in keys if k})
    if ids:
        await (await raw(conn)).execute(
            "SELECT pg_advisory_xact_lock($1::int, h) FROM unnest($2::int[]) WITH ORDINALITY AS t(h, i) ORDER BY i",
            space, ids)


def is_deadlock(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return any(getattr(e, "sqlstate", None) == DEADLOCK or getattr(e, "pgcode", None) == DEADLOCK
               for e in (exc, orig, getattr(orig, "__cause__", None)) if e is not None)


class FeatureCache:
    """record key -> (last_seen, Features), at most ``size`` entries (the oldest inserted go first)."""

    def __init__(self, size: int = 75_000):
        self.size = size
        self.entries: dict[str, tuple[datetime, Features]] = {}

    def get(self, key: str, stamp: datetime) -> Features | None:
        hit = self.entries.get(key)
        return hit[1] if hit is not None and hit[0] == stamp else None

    def put(self, key: str, stamp: datetime, f: Features) -> None:
        if key not in self.entries and len(self.entries) >= self.size:
            for old in list(self.entries)[: max(1, self.size // 10)]:
                del self.entries[old]
        self.entries[key] = (stamp, f)


async def candidate_pairs(conn: AsyncConnection, wanted: dict[str, list[str]], cap: int,
                          pending: dict[str, int] | None = None, with_sizes: bool = False):
    """For each record, the live records sharing one of its blocks of at most ``cap`` records
    (a deleted record has no blocks; a block row's stamp is its record's ``last_seen``)
    (counting ``pending``: this transaction's changes to the sizes, written at its end), and every
    candidate's stamp (and, ``with_sizes``, the stored size of every block named)."""
    out: dict[str, set[str]] = {k: set() for k in wanted}
    stamps: dict[str, datetime] = {}
    named = sorted({b for blocks in wanted.values() for b in blocks})
    if not named:
        return (out, stamps, {}) if with_sizes else (out, stamps)
    conn_raw = await raw(conn)
    sizes = dict(await conn_raw.fetch("SELECT block_key, n FROM dedup_block_sizes WHERE block_key = ANY($1::text[])",
                                      named))
    pending = pending or {}
    selective = [b for b in named if sizes.get(b, 0) + pending.get(b, 0) <= cap]
    members: dict[str, list[str]] = {}
    for block, rec, stamp in await conn_raw.fetch(
            "SELECT block_key, record_key, stamp FROM dedup_blocks WHERE block_key = ANY($1::text[])", selective):
        members.setdefault(block, []).append(rec)
        stamps[rec] = stamp
    for k, blocks in wanted.items():
        mine = out[k]
        for block in blocks:
            mine.update(members.get(block, ()))
        mine.discard(k)
    return (out, stamps, sizes) if with_sizes else (out, stamps)


async def load_features(conn: AsyncConnection, cache: FeatureCache, stamps: dict[str, datetime]
                        ) -> dict[str, Features]:
    """Features of the records in ``stamps``: from the cache when its stamp matches, else read
    (and recomputed from the record when stored by an older version of the matching)."""
    feats: dict[str, Features] = {}
    missing = []
    for key, stamp in stamps.items():
        f = cache.get(key, stamp)
        if f is None:
            missing.append(key)
        else:
            feats[key] = f
    if not missing:
        return feats
    conn_raw = await raw(conn)
    stale = []
    for key, stamp, data in await conn_raw.fetch(
            "SELECT record_key, last_seen, features::text FROM dedup_records WHERE record_key = ANY($1::text[]) "
            "AND NOT deleted", missing):
        try:
            f = Features.from_json(orjson.loads(data))
        except StaleFeatures:
            stale.append(key)
            continue
        feats[key] = f
        cache.put(key, stamp, f)
    if stale:  # stored by an older version of the matching: recomputed (``rescore_all`` rewrites them)
        for key, project, location in await conn_raw.fetch(
                "SELECT record_key, project::text, location::text FROM dedup_records WHERE record_key = ANY($1::text[])",
                stale):
            feats[key] = features(NormalizedProject.model_validate_json(project),
                                  Location.model_validate_json(location))
    return feats


async def warm(conn: AsyncConnection, cache: FeatureCache) -> int:
    """Fill the cache with the most recently seen records' features (at start-up)."""
    n = 0
    conn_raw = await raw(conn)
    async with conn_raw.transaction():
        async for key, stamp, data in conn_raw.cursor(
                "SELECT record_key, last_seen, features::text FROM dedup_records WHERE NOT deleted "
                "AND features IS NOT NULL ORDER BY last_seen DESC LIMIT $1", cache.size, prefetch=5000):
            try:
                cache.put(key, stamp, Features.from_json(orjson.loads(data)))
            except StaleFeatures:
                continue
            n += 1
    return n
