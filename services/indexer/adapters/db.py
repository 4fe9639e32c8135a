"""Dedup state in PostgreSQL: records (with features and blocks) → scored matches → clusters →
canonical projects (versioned, stable ids). The decisions are in the pure package
``services.indexer.dedup``; this module only loads and stores."""

from __future__ import annotations

import gc
from collections import Counter
from datetime import datetime, timezone

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
from services.indexer import domain
from services.indexer.adapters.candidates import (
    BLOCK_LOCKS,
    CLUSTER_LOCKS,
    FeatureCache,
    Phases,
    block_cap,
    is_deadlock,
    lock,
    lock_more,
    raw,
    warm,
)
from services.indexer.adapters.matching import match, prescore
from services.indexer.dedup import (
    Edge,
    Features,
    assign_ids,
    block_keys,
    cluster,
    features,
    new_canonical_id,
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


def _same_content(a: dict, b: dict) -> bool:
    """Two canonical projects as stored (JSON) equal but for ``updated_at``: a replay or an
    unchanged record makes no new version."""
    return {k: v for k, v in a.items() if k != "updated_at"} == {k: v for k, v in b.items() if k != "updated_at"}


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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



class DedupStore:
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
        now = datetime.now(timezone.utc)
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
        out = await self._emit(db, emit, now, cause, causes, locked)
        phases.lap("merge projects")
        return out

    async def apply_override(self, record_a: str, record_b: str, cause: Event) -> list[CanonicalChanged]:
        """Re-cluster around a pair after an operator decision (stored in ``dedup_overrides``)."""
        return await _again_if_deadlocked(lambda: self._apply_override(record_a, record_b, cause))

    async def _apply_override(self, record_a: str, record_b: str, cause: Event) -> list[CanonicalChanged]:
        now = datetime.now(timezone.utc)
        async with self.engine.begin() as conn:
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

    async def _recluster(self, db, seeds: set[str], old_cids: set[str | None], triggers: set[str],
                         previous: dict[str, str], locked: set[str]) -> tuple[set[str], dict[str, str]]:
        """Re-cluster the neighbourhood of ``seeds``; return the canonical ids whose content may
        have changed, and the project of every record of the neighbourhood. ``previous``: record ->
        the canonical id it had (also when that project was deleted: a returning record comes back
        under its old id). ``locked``: the projects locked (this transaction), added to."""
        # the seeds, those an operator said are the same as one, and their projects as read now
        rows = await db.fetch(
            "WITH s AS (SELECT unnest($1::text[]) AS k "
            "UNION SELECT record_b FROM dedup_overrides WHERE decision = 'same' AND record_a = ANY($1::text[]) "
            "UNION SELECT record_a FROM dedup_overrides WHERE decision = 'same' AND record_b = ANY($1::text[])) "
            "SELECT s.k, r.canonical_id FROM s LEFT JOIN dedup_records r ON r.record_key = s.k AND NOT r.deleted",
            list(seeds)) if seeds else []
        seeds = seeds | {r[0] for r in rows}
        # lock the projects of the neighbourhood; another transaction may have moved a seed to
        # another project before the lock was granted: read again until nothing new comes up
        cids = {c for c in old_cids if c} | {r[1] for r in rows if r[1]}
        while True:
            await lock_more(db, CLUSTER_LOCKS, cids, locked)
            result = await db.fetch(
                """
                WITH n AS (
                    SELECT record_key, source, url, canonical_id, project->>'title' AS title FROM dedup_records
                    WHERE NOT deleted AND record_key = ANY($1::text[]) UNION
                    SELECT record_key, source, url, canonical_id, project->>'title' AS title FROM dedup_records
                    WHERE NOT deleted AND canonical_id = ANY($2::text[])),
                k AS (SELECT ARRAY(SELECT record_key FROM n) AS keys)
                SELECT 0 AS kind, record_key AS a, source AS b, url AS c, canonical_id AS d, title AS e,
                       NULL::float8 AS w, NULL::timestamptz AS t FROM n
                UNION ALL
                SELECT 1, m.record_a, m.record_b, NULL, NULL, NULL, m.weight, NULL FROM dedup_matches m, k
                WHERE m.matched AND m.record_a = ANY(k.keys) AND m.record_b = ANY(k.keys)
                UNION ALL
                SELECT 2, o.record_a, o.record_b, o.decision, NULL, NULL, NULL, NULL FROM dedup_overrides o, k
                WHERE o.record_a = ANY(k.keys) AND o.record_b = ANY(k.keys)
                UNION ALL
                SELECT 3, p.id, NULL, NULL, NULL, NULL, NULL, p.first_seen FROM canonical_projects p
                WHERE p.id = ANY($2::text[])
                """, list(seeds), list(cids))
            more = {r["d"] for r in result if r["kind"] == 0 and r["a"] in seeds and r["d"]} - cids
            if not more:
                break
            cids |= more
        nodes_rows = [r for r in result if r["kind"] == 0]
        nodes = {r["a"]: (r["b"], r["c"]) for r in nodes_rows}
        edges = [Edge(r["a"], r["b"], r["w"]) for r in result if r["kind"] == 1]
        overrides = [(r["a"], r["b"], r["c"]) for r in result if r["kind"] == 2]
        components = cluster(nodes, edges, same=[(a, b) for a, b, d in overrides if d == "same"],
                             not_same=[(a, b) for a, b, d in overrides if d == "not_same"])

        old: dict[str, set[str]] = {c: set() for c in cids}
        for r in nodes_rows:
            if r["d"]:
                old.setdefault(r["d"], set()).add(r["a"])
        for k, c in previous.items():
            if k in nodes:
                old.setdefault(c, set()).add(k)
        first_seen = {r["a"]: (r["t"], r["a"]) for r in result if r["kind"] == 3}
        ids = assign_ids(components, old, triggers, first_seen)
        await self._new_ids(db, components, ids, {r["a"]: r["e"] for r in nodes_rows})

        comp_of = {k: i for i, comp in enumerate(components) for k in comp}
        best: dict[str, float] = {}
        for e in edges:
            if comp_of.get(e.a) == comp_of.get(e.b):
                for k in (e.a, e.b):
                    best[k] = max(best.get(k, float("-inf")), e.weight)
        current = {r["a"]: r["d"] for r in nodes_rows}
        updates = [(k, ids[i], best.get(k)) for i, comp in enumerate(components) for k in comp]
        if updates:
            cols = list(zip(*updates))
            # only the rows whose project or weight changed are written (a record row is large)
            await db.execute(
                "UPDATE dedup_records r SET canonical_id = u.c, match_weight = u.w "
                "FROM unnest($1::text[], $2::text[], $3::float8[]) AS u(k, c, w) "
                "WHERE r.record_key = u.k AND (r.canonical_id IS DISTINCT FROM u.c "
                "OR r.match_weight IS DISTINCT FROM u.w)", list(cols[0]), list(cols[1]), list(cols[2]))
        # what may have changed: clusters whose members changed, those left empty, the triggers' old and new ones
        changed = {c for c in old if c not in ids.values()} | {c for c in old_cids if c}
        for i, comp in enumerate(components):
            if set(comp) != old.get(ids[i], set()) or any(k in triggers for k in comp) or \
                    any(current.get(k) != ids[i] for k in comp):
                changed.add(ids[i])
        return changed, {k: ids[i] for i, comp in enumerate(components) for k in comp}

    async def _new_ids(self, db, components: list[list[str]], ids: dict[int, str],
                       titles: dict[str, str | None]) -> None:
        """Make an id for each component that kept none: from its title and founding record."""
        taken = set(ids.values())
        attempt = 0
        todo = [i for i in range(len(components)) if i not in ids]
        while todo:
            proposal = {i: new_canonical_id(titles.get(components[i][0]) or "", components[i][0], attempt) for i in todo}
            exists = {r[0] for r in await db.fetch(
                "SELECT id FROM canonical_projects WHERE id = ANY($1::text[])", list(proposal.values()))}
            retry = []
            for i, cid in proposal.items():
                if cid in exists or cid in taken:
                    retry.append(i)
                else:
                    ids[i] = cid
                    taken.add(cid)
            todo, attempt = retry, attempt + 1

    async def _emit(self, db, cids: set[str | None], now: datetime, default_cause: Event,
                    causes: dict[str, Event] | None = None, locked: set[str] | None = None) -> list[CanonicalChanged]:
        """Merge each project from its live records; write a new version only when it changed."""
        causes = causes or {}
        wanted = sorted(c for c in cids if c)
        if not wanted:
            return []
        await lock_more(db, CLUSTER_LOCKS, wanted, set() if locked is None else locked)
        members: dict[str, list[domain.Member]] = {}
        current: dict[str, tuple[int, bool, str | None]] = {}
        for r in await db.fetch(
                "SELECT 0 AS kind, canonical_id AS id, record_key, project::text AS project, "
                "location::text AS location, first_seen, last_seen, NULL::int AS version, NULL::bool AS deleted "
                "FROM dedup_records WHERE canonical_id = ANY($1::text[]) AND NOT deleted "
                "UNION ALL SELECT 1, id, NULL, project::text, NULL, NULL, NULL, version, deleted "
                "FROM canonical_projects WHERE id = ANY($1::text[])", wanted):
            if r["kind"] == 0:
                members.setdefault(r["id"], []).append(domain.Member(
                    record_key=r["record_key"], project=NormalizedProject.model_validate_json(r["project"]),
                    location=Location.model_validate_json(r["location"]), first_seen=r["first_seen"],
                    last_seen=r["last_seen"]))
            else:
                current[r["id"]] = (r["version"], r["deleted"], r["project"])
        changes, writes = [], []
        for cid in wanted:
            cause = causes.get(cid, default_cause)
            cur = current.get(cid)
            if cid not in members:
                if cur is None:
                    continue
                if cur[1]:
                    changes.append(cause.child(CanonicalChanged, op=Operation.DELETE, canonical_id=cid,
                                               version=cur[0]))
                    continue
                writes.append((cid, cur[0] + 1, None, True))
                changes.append(cause.child(CanonicalChanged, op=Operation.DELETE, canonical_id=cid,
                                           version=cur[0] + 1))
                continue
            merged = domain.merge(cid, members[cid], now)
            stored = merged.model_dump_json()
            previous = None if cur is None or cur[1] or cur[2] is None else orjson.loads(cur[2])
            if previous is not None and _same_content(previous, orjson.loads(stored)):
                # unchanged: the version stored, as it was (its updated_at)
                merged, version = merged.model_copy(update={"updated_at": _when(previous["updated_at"])}), cur[0]
            else:
                version = 1 if cur is None else cur[0] + 1
                writes.append((cid, version, stored, False))
            changes.append(cause.child(CanonicalChanged, op=Operation.UPSERT, canonical_id=cid, version=version,
                                       project=merged))
        if writes:
            cols = list(zip(*writes))
            await db.execute(
                """
                INSERT INTO canonical_projects (id, version, project, deleted, first_seen, updated_at)
                SELECT i, v, p::jsonb, d, $5, $5
                FROM unnest($1::text[], $2::int[], $3::text[], $4::bool[]) AS t(i, v, p, d)
                ON CONFLICT (id) DO UPDATE SET version=EXCLUDED.version, project=EXCLUDED.project,
                    deleted=EXCLUDED.deleted, updated_at=EXCLUDED.updated_at
                """, list(cols[0]), list(cols[1]), list(cols[2]), list(cols[3]), now)
        return changes

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
