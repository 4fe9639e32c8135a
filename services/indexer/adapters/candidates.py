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

import time
import zlib
from collections import Counter
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
    """The asyncpg connection under ``conn``, in ``conn``'s transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its own first statement: a statement
    sent straight to asyncpg before any other would run outside a transaction (each one committed
    on its own, and a transaction-scoped advisory lock released as soon as it is granted). So the
    transaction is begun here first when ``conn`` is in one and the driver is not yet."""
    driver = (await conn.get_raw_connection()).driver_connection
    if conn.in_transaction() and not driver.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")
    return driver


async def lock(conn: AsyncConnection, space: int, keys: Iterable[str]) -> None:
    ids = sorted({_lock_id(k) for k in keys if k})
    if ids:
        await (await raw(conn)).execute(
            "SELECT pg_advisory_xact_lock($1::int, h) FROM unnest($2::int[]) WITH ORDINALITY AS t(h, i) ORDER BY i",
            space, ids)


async def lock_more(db, space: int, keys: Iterable[str], locked: set[str]) -> None:
    """``lock`` on the raw connection ``db``, skipping the keys in ``locked`` (held already by
    this transaction), then adds them there."""
    todo = {k for k in keys if k and k not in locked}
    ids = sorted({_lock_id(k) for k in todo})
    if ids:
        await db.execute(
            "SELECT pg_advisory_xact_lock($1::int, h) FROM unnest($2::int[]) WITH ORDINALITY AS t(h, i) ORDER BY i",
            space, ids)
    locked |= todo


def is_deadlock(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return any(getattr(e, "sqlstate", None) == DEADLOCK or getattr(e, "pgcode", None) == DEADLOCK
               for e in (exc, orig, getattr(orig, "__cause__", None)) if e is not None)


class Phases:
    """Seconds spent in each step of the dedup's batches, summed (the benchmark prints them)."""

    def __init__(self) -> None:
        self.seconds: Counter = Counter()
        self.counts: Counter = Counter()  # records, candidates, pairs scored, features read
        self._t = time.perf_counter()

    def start(self) -> None:
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        """The time since the last lap (or ``start``) goes to ``name``."""
        t = time.perf_counter()
        self.seconds[name] += t - self._t
        self._t = t


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


def block_cap(block: str, cap: int, commune_cap: int) -> int:
    """The size above which a block is not read for candidates: ``commune_cap`` for a commune's
    block (``c:``: every record of the commune, whatever its title), ``cap`` for the others."""
    return commune_cap if block.startswith("c:") else cap


async def candidate_pairs(conn: AsyncConnection, wanted: dict[str, list[str]], cap: int,
                          pending: dict[str, int] | None = None, with_sizes: bool = False,
                          commune_cap: int | None = None):
    """For each record, the live records sharing one of its blocks of at most ``cap`` records
    (``commune_cap`` for a commune's block; a deleted record has no blocks; a block row's stamp is
    its record's ``last_seen``) (counting ``pending``: this transaction's changes to the sizes,
    written at its end), and every candidate's stamp (and, ``with_sizes``, the stored size of
    every block named). One statement: the sizes and the members of the selective blocks."""
    out: dict[str, set[str]] = {k: set() for k in wanted}
    stamps: dict[str, datetime] = {}
    named = sorted({b for blocks in wanted.values() for b in blocks})
    if not named:
        return (out, stamps, {}) if with_sizes else (out, stamps)
    pending = pending or {}
    commune_cap = cap if commune_cap is None else commune_cap
    sizes: dict[str, int] = {}
    members: dict[str, list[str]] = {}  # one row per block: its members and their stamps as arrays
    for block, n, recs, times in await (await raw(conn)).fetch(
            """
            WITH k AS (
                SELECT k.key, s.n AS stored, coalesce(s.n, 0) + k.d AS n, k.cap
                FROM unnest($1::text[], $2::int[], $3::int[]) AS k(key, d, cap)
                     LEFT JOIN LATERAL (SELECT n FROM dedup_block_sizes s WHERE s.block_key = k.key) s ON true)
            SELECT k.key, k.stored, b.recs, b.stamps FROM k
            LEFT JOIN LATERAL (SELECT array_agg(record_key) AS recs, array_agg(stamp) AS stamps FROM dedup_blocks b
                               WHERE b.block_key = k.key AND k.n <= k.cap) b ON true
            WHERE k.stored IS NOT NULL OR b.recs IS NOT NULL
            """, named, [pending.get(b, 0) for b in named], [block_cap(b, cap, commune_cap) for b in named]):
        if n is not None:
            sizes[block] = n
        if recs:
            members[block] = recs
            stamps.update(zip(recs, times))
    for k, blocks in wanted.items():
        mine = out[k]
        for block in blocks:
            m = members.get(block)
            if m:
                mine.update(m)
        mine.discard(k)
    return (out, stamps, sizes) if with_sizes else (out, stamps)


async def load_features(conn: AsyncConnection, cache: FeatureCache, stamps: dict[str, datetime],
                        phases: Phases | None = None) -> dict[str, Features]:
    """Features of the records in ``stamps``: from the cache when its stamp matches, else read
    (and recomputed from the record when stored by an older version of the matching)."""
    feats: dict[str, Features] = {}
    missing = []
    entries = cache.entries
    for key, stamp in stamps.items():
        hit = entries.get(key)  # FeatureCache.get, inlined: thousands of candidates a batch
        if hit is not None and hit[0] == stamp:
            feats[key] = hit[1]
        else:
            missing.append(key)
    if not missing:
        return feats
    if phases is not None:
        phases.counts["features read"] += len(missing)
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
