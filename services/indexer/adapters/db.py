"""Dedup state in PostgreSQL: records (with features and blocks) → scored matches → clusters →
canonical projects (versioned, stable ids). The decisions are in the pure package
``services.indexer.dedup``; this module only loads and stores."""

from __future__ import annotations

import gc
from collections import Counter
from datetime import UTC, datetime

import orjson
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.contracts.events import (
    CanonicalChanged,
    CanonicalProject,
    Event,
    Location,
    NormalizedProject,
    Operation,
    ProjectGeocoded,
)
from services.indexer.adapters.candidates import (
    BLOCK_LOCKS,
    FeatureCache,
    Phases,
    block_cap,
    is_deadlock,
    lock,
    raw,
    warm,
)
from services.indexer.adapters.matching import match, prescore
from services.indexer.adapters.projects import ProjectWriter
from services.indexer.dedup import (
    Features,
    block_keys,
    features,
)

log = structlog.get_logger()

BLOCK_CAP = 300
"""A block holding more records than this is not selective (a common word, a big city): skipped."""
COMMUNE_CAP = 100
"""The cap of a commune's own block (``c:``, every record of the commune whatever its title): in a
bigger commune the candidates are those sharing a title word there (``ct:``), a name word in the
département (``dt:``), a rare name word, a contact or the URL. See docs/dedup.md "Speed"."""
LOCK_ABOVE_CAP = 2
"""Blocks up to this many times the cap are locked: one that big may still shrink under the cap
(records deleted) while a transaction waits; beyond, it is never a candidate block again in practice."""
ATTEMPTS = 5  # a transaction chosen as a deadlock victim is run again (see adapters/candidates.py)


def _json(model) -> str:
    return model.model_dump_json()


def _load(value):
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


async def _again_if_deadlocked(run):
    """Run a dedup transaction; a deadlock victim (two transactions locking projects in crossed
    order, see adapters/candidates.py) is rolled back whole and run again."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await run()
        except Exception as exc:  # noqa: BLE001 — raised by SQLAlchemy (DBAPIError) or asyncpg (raw statements)
            if attempt == ATTEMPTS or not is_deadlock(exc):
                raise
            log.info("dedup deadlock victim, running the transaction again", attempt=attempt)
    raise AssertionError("unreachable")



class DedupStore(ProjectWriter):
    """Applies geocoded records and returns the canonical changes to publish.

    One transaction per call (one event, or a batch). An upsert stores the record's features and
    blocking keys, scores it against the candidates that share a selective block, stores the
    scored pairs, then re-clusters the neighbourhood (the records' old clusters and the clusters
    of their matches): records join, leave, merge or split, and every cluster keeps the id it had
    (see ``dedup.assign_ids``). Replaying an event returns the current state with its current
    version. A batch gives the same clusters as its events one by one, with one version per
    changed project instead of one per event, in a fixed number of statements.
    """

    def __init__(self, engine: AsyncEngine, block_cap: int = BLOCK_CAP, cache_size: int = 75_000,
                 commune_cap: int = COMMUNE_CAP):
        self.engine = engine
        self.block_cap = block_cap
        self.commune_cap = min(commune_cap, block_cap)
        self.cache = FeatureCache(cache_size)
        self.phases = Phases()

    async def warm(self) -> int:
        """Read the most recently seen records' features into memory (start-up); returns how many."""
        async with self.engine.connect() as conn:
            n = await warm(conn, self.cache)
        # what start-up made (modules, models, the cache) lives as long as the process: out of the
        # garbage collector's full passes, which would otherwise walk it again every few batches
        gc.collect()
        gc.freeze()
        log.info("dedup features cached", records=n)
        return n

    async def apply(self, event: ProjectGeocoded) -> list[CanonicalChanged]:
        return await self.apply_batch([event])

    async def apply_batch(self, events: list[ProjectGeocoded], rescore: bool = False) -> list[CanonicalChanged]:
        """Apply events in order; a record named twice starts a new step (same transaction).
        ``rescore``: an unchanged record is featurised, scored and clustered again (after the
        matching changed, see ``rescore_all``) instead of being a replay."""
        if not events:
            return []
        return await _again_if_deadlocked(lambda: self._apply_batch(events, rescore))

    async def _apply_batch(self, events: list[ProjectGeocoded], rescore: bool) -> list[CanonicalChanged]:
        now = datetime.now(UTC)
        latest: dict[str, CanonicalChanged] = {}
        resize: Counter = Counter()
        self.phases.start()
        async with self.engine.begin() as conn:
            self.phases.lap("begin")
            segment: list[ProjectGeocoded] = []
            seen: set[str] = set()
            for event in events:
                if event.key in seen:
                    seen = set()
                    for c in await self._apply_segment(conn, segment, now, resize, rescore):
                        latest[c.canonical_id] = c
                    segment = []
                segment.append(event)
                seen.add(event.key)
            for c in await self._apply_segment(conn, segment, now, resize, rescore):
                latest[c.canonical_id] = c
            # block sizes last, in one sorted statement: a size row shared with another consumer
            # (a common word) stays locked only while this transaction commits
            await self._resize(conn, resize)
            self.phases.lap("sizes")
        self.phases.lap("commit")
        return [latest[k] for k in sorted(latest)]

    async def _apply_segment(self, conn: AsyncConnection, events: list[ProjectGeocoded], now: datetime,
                             resize: Counter, rescore: bool = False) -> list[CanonicalChanged]:
        phases = self.phases
        db = await raw(conn)
        cause = events[-1]
        keys = [e.key for e in events]
        olds = {r["record_key"]: r for r in await db.fetch(
            "SELECT record_key, canonical_id, content_hash, location::text AS location, url, deleted, "
            "ARRAY(SELECT block_key FROM dedup_blocks b WHERE b.record_key = r.record_key) AS blocks "
            "FROM dedup_records r WHERE record_key = ANY($1::text[])", keys)}
        phases.lap("read records")
        emit: set[str] = set()  # replays: re-emit the current state
        upserts: list[tuple[ProjectGeocoded, Features]] = []
        deletions: list[str] = []
        previous: dict[str, str] = {}
        for e in events:
            old = olds.get(e.key)
            if old is not None and old["canonical_id"]:
                previous[e.key] = old["canonical_id"]
            if e.op is Operation.UPSERT:
                if (not rescore and old is not None and not old["deleted"]
                        and old["content_hash"] == e.project.content_hash
                        and old["url"] == e.project.url
                        and _load(old["location"]) == e.location.model_dump(mode="json")):
                    emit.add(old["canonical_id"])
                else:
                    upserts.append((e, features(e.project, e.location)))
            elif old is not None:
                if old["deleted"]:
                    # a redelivered deletion: re-emit the current state, in case the first
                    # delivery committed here but died before publishing
                    emit.add(old["canonical_id"])
                else:
                    deletions.append(e.key)
        changed_keys = [e.key for e, _ in upserts] + deletions
        phases.lap("featurise")
        scored, sizes = await prescore(conn, self.cache, self.block_cap, upserts, now, phases, self.commune_cap) \
            if upserts else ({}, {})
        # the records' selective blocks, old and new: from here on no other transaction writes a
        # record that could be compared with one of these (candidates read above are checked again
        # in ``match``). A block far above its cap is never read for candidates: not locked.
        touched = {b for k in changed_keys for b in (olds[k]["blocks"] if k in olds else ())} | \
                  {b for _, f in upserts for b in block_keys(f)}
        await lock(conn, BLOCK_LOCKS, {b for b in touched if sizes.get(b, 0) <= LOCK_ABOVE_CAP * block_cap(
            b, self.block_cap, self.commune_cap)})
        phases.lap("lock blocks")
        if changed_keys:
            gone = await db.fetch(
                "WITH m AS (DELETE FROM dedup_matches WHERE record_a = ANY($1::text[]) OR record_b = ANY($1::text[])) "
                "DELETE FROM dedup_blocks WHERE record_key = ANY($1::text[]) RETURNING block_key", changed_keys)
            resize.subtract(r[0] for r in gone)
        if deletions:
            await db.execute("UPDATE dedup_records SET deleted=true, features=NULL, match_weight=NULL, "
                             "last_seen=$2 WHERE record_key = ANY($1::text[])", deletions, now)
        neighbours: set[str] = set()
        if upserts:
            resize.update(await self._store_records(db, upserts, now))
        phases.lap("write records")
        if upserts:
            neighbours = await match(conn, self.cache, self.block_cap, upserts, now, resize, scored, phases,
                                     self.commune_cap)
        locked: set[str] = set()
        assigned: dict[str, str] = {}
        if changed_keys:
            seeds = {e.key for e, _ in upserts} | neighbours
            old_cids = {previous[k] for k in changed_keys if k in previous}
            was = {e.key: previous[e.key] for e, _ in upserts if e.key in previous}
            changed, assigned = await self._recluster(db, seeds, old_cids, set(changed_keys), was, locked)
            emit |= changed
        phases.lap("recluster")
        # each project's change carries the correlation id of the event that touched it
        causes: dict[str, Event] = {}
        by_key = {e.key: e for e in events}
        for k, c in previous.items():
            causes.setdefault(c, by_key[k])
        for k in keys:  # each record's project now (re-clustered above, else as read)
            c = assigned.get(k) or (olds[k]["canonical_id"] if k in olds else None)
            if c:
                causes[c] = by_key[k]
        out = await self._emit(db, emit, now, cause, causes, locked,
                               written={e.key: (e.project, e.location) for e, _ in upserts})
        phases.lap("merge projects")
        return out

    async def apply_override(self, record_a: str, record_b: str, cause: Event,
                             decision: str | None = None) -> list[CanonicalChanged]:
        """Store an operator decision (``same``, ``not_same``, ``cleared``; None: already stored) in
        ``dedup_overrides`` and re-cluster around the pair, in one transaction."""
        return await _again_if_deadlocked(lambda: self._apply_override(record_a, record_b, cause, decision))

    async def _apply_override(self, record_a: str, record_b: str, cause: Event,
                              decision: str | None) -> list[CanonicalChanged]:
        now = datetime.now(UTC)
        a, b = sorted((record_a, record_b))
        async with self.engine.begin() as conn:
            if decision == "cleared":
                await conn.execute(text("DELETE FROM dedup_overrides WHERE record_a = :a AND record_b = :b"),
                                   {"a": a, "b": b})
            elif decision is not None:
                await conn.execute(text(
                    "INSERT INTO dedup_overrides (record_a, record_b, decision, operator) "
                    "VALUES (:a, :b, :d, 'gateway') "
                    "ON CONFLICT (record_a, record_b) DO UPDATE SET decision = EXCLUDED.decision, created_at = now()"),
                    {"a": a, "b": b, "d": decision})
            db = await raw(conn)
            rows = await db.fetch("SELECT record_key, canonical_id FROM dedup_records "
                                  "WHERE record_key = ANY($1::text[]) AND NOT deleted", [record_a, record_b])
            if not rows:
                return []
            locked: set[str] = set()
            changed, _ = await self._recluster(db, {r["record_key"] for r in rows}, {r["canonical_id"] for r in rows},
                                               set(), {}, locked)
            return await self._emit(db, changed, now, cause, None, locked)

    # ------------------------------------------------------------------ steps

    @staticmethod
    async def _store_records(db, upserts: list[tuple[ProjectGeocoded, Features]], now: datetime) -> list[str]:
        """Store the records and their blocks (one statement); return the blocks added."""
        cols = list(zip(*[(e.key, e.source, e.source_record_id, e.project.url, e.project.content_hash,
                           _json(e.project), _json(e.location), orjson.dumps(f.to_json()).decode())
                          for e, f in upserts]))
        blocks = [(b, e.key) for e, f in upserts for b in block_keys(f)]
        rows = await db.fetch(
            """
            WITH r AS (
                INSERT INTO dedup_records (record_key, source, source_record_id, url, content_hash, project, location,
                                           features, deleted, first_seen, last_seen)
                SELECT k, s, r, u, h, p::jsonb, l::jsonb, f::jsonb, false, $9, $9
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                            $8::text[]) AS t(k, s, r, u, h, p, l, f)
                ON CONFLICT (record_key) DO UPDATE SET url=EXCLUDED.url, content_hash=EXCLUDED.content_hash,
                    project=EXCLUDED.project, location=EXCLUDED.location, features=EXCLUDED.features, deleted=false,
                    last_seen=EXCLUDED.last_seen)
            INSERT INTO dedup_blocks (block_key, record_key, stamp)
            SELECT b, k, $9 FROM unnest($10::text[], $11::text[]) AS t(b, k)
            ON CONFLICT DO NOTHING RETURNING block_key
            """, *(list(c) for c in cols), now, [b for b, _ in blocks], [k for _, k in blocks])
        return [r[0] for r in rows]

    @staticmethod
    async def _resize(conn: AsyncConnection, counts: Counter) -> None:
        keys = sorted(k for k, n in counts.items() if n)
        if not keys:
            return
        await (await raw(conn)).execute(
            "INSERT INTO dedup_block_sizes (block_key, n) SELECT * FROM unnest($1::text[], $2::int[]) "
            "ON CONFLICT (block_key) DO UPDATE SET n = dedup_block_sizes.n + EXCLUDED.n",
            keys, [counts[k] for k in keys])

    async def rescore_all(self, batch: int = 500) -> int:
        """Featurise, block, score and cluster every live record again, in batches (after the
        matching or its weights changed); project ids stay stable. Returns the number of canonical
        changes; the search index is then rebuilt with ``make reindex``."""
        after, changes = "", 0
        while True:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(text(
                    "SELECT record_key, source, source_record_id, project::text, location::text FROM dedup_records "
                    "WHERE NOT deleted AND record_key > :after ORDER BY record_key LIMIT :n"),
                    {"after": after, "n": batch})).all()
            if not rows:
                return changes
            events = [ProjectGeocoded(op=Operation.UPSERT, source=r.source, source_record_id=r.source_record_id,
                                      project=NormalizedProject.model_validate_json(r.project),
                                      location=Location.model_validate_json(r.location)) for r in rows]
            changes += len(await self.apply_batch(events, rescore=True))
            after = rows[-1].record_key

    # ------------------------------------------------------------------ reads

    async def clusters(self) -> dict[str, str]:
        """record key -> canonical id, for every live record."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT record_key, canonical_id FROM dedup_records WHERE NOT deleted"))).all()
        return {r.record_key: r.canonical_id for r in rows}

    async def all_canonical(self):
        """Every live canonical project with its version (for a full reindex)."""
        async with self.engine.connect() as conn:
            result = await conn.stream(text(
                "SELECT id, version, project FROM canonical_projects WHERE NOT deleted ORDER BY id"))
            async for row in result:
                yield CanonicalProject.model_validate(_load(row.project)), row.version
