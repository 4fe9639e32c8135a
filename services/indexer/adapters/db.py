"""Dedup state in PostgreSQL: records (with features and blocks) → scored matches → clusters →
canonical projects (versioned, stable ids). The decisions are in the pure package
``services.indexer.dedup``; this module only loads and stores."""

from __future__ import annotations

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
    is_deadlock,
    lock,
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

    def __init__(self, engine: AsyncEngine, block_cap: int = BLOCK_CAP, cache_size: int = 75_000):
        self.engine = engine
        self.block_cap = block_cap
        self.cache = FeatureCache(cache_size)

    async def warm(self) -> int:
        """Read the most recently seen records' features into memory (start-up); returns how many."""
        async with self.engine.connect() as conn:
            n = await warm(conn, self.cache)
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
        async with self.engine.begin() as conn:
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
        return [latest[k] for k in sorted(latest)]

    async def _apply_segment(self, conn: AsyncConnection, events: list[ProjectGeocoded], now: datetime,
                             resize: Counter, rescore: bool = False) -> list[CanonicalChanged]:
        cause = events[-1]
        keys = [e.key for e in events]
        olds = {r["record_key"]: r for r in (await conn.execute(
            text("SELECT record_key, canonical_id, content_hash, location, url, deleted, "
                 "ARRAY(SELECT block_key FROM dedup_blocks b WHERE b.record_key = r.record_key) AS blocks "
                 "FROM dedup_records r WHERE record_key = ANY(:k)"), {"k": keys})).mappings().all()}
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
        scored, sizes = await prescore(conn, self.cache, self.block_cap, upserts, now) if upserts else ({}, {})
        # the records' selective blocks, old and new: from here on no other transaction writes a
        # record that could be compared with one of these (candidates read above are checked again
        # in ``match``). A block far above the cap is never read for candidates: not locked.
        touched = {b for k in changed_keys for b in (olds[k]["blocks"] if k in olds else ())} | \
                  {b for _, f in upserts for b in block_keys(f)}
        await lock(conn, BLOCK_LOCKS, {b for b in touched if sizes.get(b, 0) <= LOCK_ABOVE_CAP * self.block_cap})
        if changed_keys:
            gone = (await conn.execute(text("DELETE FROM dedup_blocks WHERE record_key = ANY(:k) RETURNING block_key"),
                                       {"k": changed_keys})).scalars().all()
            resize.subtract(gone)
            await conn.execute(text("DELETE FROM dedup_matches WHERE record_a = ANY(:k) OR record_b = ANY(:k)"),
                               {"k": changed_keys})
        if deletions:
            await conn.execute(text("UPDATE dedup_records SET deleted=true, features=NULL, match_weight=NULL, "
                                    "last_seen=:now WHERE record_key = ANY(:k)"), {"k": deletions, "now": now})
        neighbours: set[str] = set()
        if upserts:
            resize.update(await self._store_records(conn, upserts, now))
            neighbours = await match(conn, self.cache, self.block_cap, upserts, now, resize, scored)
        if changed_keys:
            seeds = {e.key for e, _ in upserts} | neighbours
            old_cids = {previous[k] for k in changed_keys if k in previous}
            emit |= await self._recluster(conn, seeds, old_cids, set(changed_keys),
                                          {e.key: previous[e.key] for e, _ in upserts if e.key in previous})
        # each project's change carries the correlation id of the event that touched it
        causes: dict[str, Event] = {}
        by_key = {e.key: e for e in events}
        for k, c in previous.items():
            causes.setdefault(c, by_key[k])
        for k, c in (await conn.execute(text(
                "SELECT record_key, canonical_id FROM dedup_records WHERE record_key = ANY(:k)"), {"k": keys})).all():
            if c:
                causes[c] = by_key[k]
        return await self._emit(conn, emit, now, cause, causes)

    async def apply_override(self, record_a: str, record_b: str, cause: Event,
                             decision: str | None = None) -> list[CanonicalChanged]:
        """Store an operator decision (``same``, ``not_same``, ``cleared``; None: already stored) in
        ``dedup_overrides`` and re-cluster around the pair, in one transaction."""
        return await _again_if_deadlocked(lambda: self._apply_override(record_a, record_b, cause, decision))

    async def _apply_override(self, record_a: str, record_b: str, cause: Event,
                              decision: str | None) -> list[CanonicalChanged]:
        now = datetime.now(timezone.utc)
        a, b = sorted((record_a, record_b))
        async with self.engine.begin() as conn:
            if decision == "cleared":
                await conn.execute(text("DELETE FROM dedup_overrides WHERE record_a = :a AND record_b = :b"),
                                   {"a": a, "b": b})
            elif decision is not None:
                await conn.execute(text(
                    "INSERT INTO dedup_overrides (record_a, record_b, decision, operator) "
                    "VALUES (:a, :b, :d, 'gateway') ON CONFLICT (record_a, record_b) DO UPDATE SET decision = EXCLUDED.decision, created_at = now()"),
                    {"a": a, "b": b, "d": decision})
            rows = (await conn.execute(
                text("SELECT record_key, canonical_id FROM dedup_records WHERE record_key = ANY(:k) AND NOT deleted"),
                {"k": [record_a, record_b]},
            )).all()
            if not rows:
                return []
            changed = await self._recluster(conn, {r.record_key for r in rows}, {r.canonical_id for r in rows},
                                            set(), {})
            return await self._emit(conn, changed, now, cause)

    # ------------------------------------------------------------------ steps

    async def _store_records(self, conn: AsyncConnection, upserts: list[tuple[ProjectGeocoded, Features]],
                             now: datetime) -> list[str]:
        """Store the records and their blocks; return the blocks added."""
        cols = list(zip(*[(e.key, e.source, e.source_record_id, e.project.url, e.project.content_hash,
                           _json(e.project), _json(e.location), orjson.dumps(f.to_json()).decode())
                          for e, f in upserts]))
        await conn.execute(text(
            """
            INSERT INTO dedup_records (record_key, source, source_record_id, url, content_hash, project, location,
                                       features, deleted, first_seen, last_seen)
            SELECT k, s, r, u, h, CAST(p AS jsonb), CAST(l AS jsonb), CAST(f AS jsonb), false, :now, :now
            FROM unnest(CAST(:k AS text[]), CAST(:s AS text[]), CAST(:r AS text[]), CAST(:u AS text[]),
                        CAST(:h AS text[]), CAST(:p AS text[]), CAST(:l AS text[]), CAST(:f AS text[]))
                 AS t(k, s, r, u, h, p, l, f)
            ON CONFLICT (record_key) DO UPDATE SET url=EXCLUDED.url, content_hash=EXCLUDED.content_hash,
                project=EXCLUDED.project, location=EXCLUDED.location, features=EXCLUDED.features, deleted=false,
                last_seen=EXCLUDED.last_seen
            """), dict(k=list(cols[0]), s=list(cols[1]), r=list(cols[2]), u=list(cols[3]), h=list(cols[4]),
                       p=list(cols[5]), l=list(cols[6]), f=list(cols[7]), now=now))
        blocks = [(b, e.key) for e, f in upserts for b in block_keys(f)]
        added = (await conn.execute(text(
            "INSERT INTO dedup_blocks (block_key, record_key, stamp) "
            "SELECT b, k, :now FROM unnest(CAST(:b AS text[]), CAST(:k AS text[])) AS t(b, k) "
            "ON CONFLICT DO NOTHING RETURNING block_key"),
            {"b": [b for b, _ in blocks], "k": [k for _, k in blocks], "now": now})).scalars().all()
        return added

    @staticmethod
    async def _resize(conn: AsyncConnection, counts: Counter) -> None:
        keys = sorted(k for k, n in counts.items() if n)
        if not keys:
            return
        await conn.execute(text(
            "INSERT INTO dedup_block_sizes (block_key, n) SELECT * FROM unnest(CAST(:b AS text[]), CAST(:n AS int[])) "
            "ON CONFLICT (block_key) DO UPDATE SET n = dedup_block_sizes.n + EXCLUDED.n"),
            {"b": keys, "n": [counts[k] for k in keys]})

    async def _recluster(self, conn: AsyncConnection, seeds: set[str], old_cids: set[str | None],
                         triggers: set[str], previous: dict[str, str]) -> set[str]:
        """Re-cluster the neighbourhood of ``seeds``; return the canonical ids whose content may
        have changed. ``previous``: record -> the canonical id it had (also when that project was
        deleted: a returning record comes back under its old id)."""
        if seeds:
            same = (await conn.execute(text(
                "SELECT record_a, record_b FROM dedup_overrides WHERE decision='same' "
                "AND (record_a = ANY(:s) OR record_b = ANY(:s))"), {"s": list(seeds)})).all()
            seeds = seeds | {k for pair in same for k in pair}
        # lock the projects of the neighbourhood; another transaction may have moved a seed to
        # another project before the lock was granted: read again until nothing new comes up
        cids: set[str] = set()
        todo = {c for c in old_cids if c}
        while True:
            await lock(conn, CLUSTER_LOCKS, todo - cids)
            cids |= todo
            rows = (await conn.execute(text(
                "SELECT canonical_id FROM dedup_records WHERE record_key = ANY(:s) AND NOT deleted "
                "AND canonical_id IS NOT NULL"), {"s": list(seeds)})).all() if seeds else []
            todo = {r.canonical_id for r in rows} - cids
            if not todo:
                break
        nodes_rows = (await conn.execute(text(
            "SELECT record_key, source, url, canonical_id, project->>'title' AS title FROM dedup_records "
            "WHERE NOT deleted AND record_key = ANY(:s) UNION "
            "SELECT record_key, source, url, canonical_id, project->>'title' AS title FROM dedup_records "
            "WHERE NOT deleted AND canonical_id = ANY(:c)"),
            {"s": list(seeds), "c": list(cids)})).mappings().all()
        nodes = {r["record_key"]: (r["source"], r["url"]) for r in nodes_rows}
        keys = list(nodes)
        edges = [Edge(r.record_a, r.record_b, r.weight) for r in (await conn.execute(text(
            "SELECT record_a, record_b, weight FROM dedup_matches WHERE matched "
            "AND record_a = ANY(:k) AND record_b = ANY(:k)"), {"k": keys})).all()] if keys else []
        overrides = (await conn.execute(text(
            "SELECT record_a, record_b, decision FROM dedup_overrides WHERE record_a = ANY(:k) AND record_b = ANY(:k)"),
            {"k": keys})).all() if keys else []
        components = cluster(nodes, edges, same=[(o.record_a, o.record_b) for o in overrides if o.decision == "same"],
                             not_same=[(o.record_a, o.record_b) for o in overrides if o.decision == "not_same"])

        old: dict[str, set[str]] = {c: set() for c in cids}
        for r in nodes_rows:
            if r["canonical_id"]:
                old.setdefault(r["canonical_id"], set()).add(r["record_key"])
        for k, c in previous.items():
            if k in nodes:
                old.setdefault(c, set()).add(k)
        first_seen = {r.id: (r.first_seen, r.id) for r in (await conn.execute(text(
            "SELECT id, first_seen FROM canonical_projects WHERE id = ANY(:c)"), {"c": list(old)})).all()}
        ids = assign_ids(components, old, triggers, first_seen)
        await self._new_ids(conn, components, ids, {r["record_key"]: r["title"] for r in nodes_rows})

        comp_of = {k: i for i, comp in enumerate(components) for k in comp}
        best: dict[str, float] = {}
        for e in edges:
            if comp_of.get(e.a) == comp_of.get(e.b):
                for k in (e.a, e.b):
                    best[k] = max(best.get(k, float("-inf")), e.weight)
        current = {r["record_key"]: r["canonical_id"] for r in nodes_rows}
        updates = [(k, ids[i], best.get(k)) for i, comp in enumerate(components) for k in comp]
        if updates:
            cols = list(zip(*updates))
            await conn.execute(text(
                "UPDATE dedup_records r SET canonical_id = u.c, match_weight = u.w "
                "FROM unnest(CAST(:k AS text[]), CAST(:c AS text[]), CAST(:w AS float8[])) AS u(k, c, w) "
                "WHERE r.record_key = u.k"), {"k": list(cols[0]), "c": list(cols[1]), "w": list(cols[2])})
        # what may have changed: clusters whose members changed, those left empty, the triggers' old and new ones
        changed = {c for c in old if c not in ids.values()} | {c for c in old_cids if c}
        for i, comp in enumerate(components):
            if set(comp) != old.get(ids[i], set()) or any(k in triggers for k in comp) or \
                    any(current.get(k) != ids[i] for k in comp):
                changed.add(ids[i])
        return changed

    async def _new_ids(self, conn: AsyncConnection, components: list[list[str]], ids: dict[int, str],
                       titles: dict[str, str | None]) -> None:
        """Make an id for each component that kept none: from its title and founding record."""
        taken = set(ids.values())
        attempt = 0
        todo = [i for i in range(len(components)) if i not in ids]
        while todo:
            proposal = {i: new_canonical_id(titles.get(components[i][0]) or "", components[i][0], attempt) for i in todo}
            exists = {r.id for r in (await conn.execute(text(
                "SELECT id FROM canonical_projects WHERE id = ANY(:c)"), {"c": list(proposal.values())})).all()}
            retry = []
            for i, cid in proposal.items():
                if cid in exists or cid in taken:
                    retry.append(i)
                else:
                    ids[i] = cid
                    taken.add(cid)
            todo, attempt = retry, attempt + 1

    async def _emit(self, conn: AsyncConnection, cids: set[str | None], now: datetime,
                    default_cause: Event, causes: dict[str, Event] | None = None) -> list[CanonicalChanged]:
        """Merge each project from its live records; write a new version only when it changed."""
        causes = causes or {}
        wanted = sorted(c for c in cids if c)
        if not wanted:
            return []
        await lock(conn, CLUSTER_LOCKS, wanted)  # held already when re-clustered here
        members: dict[str, list[domain.Member]] = {}
        for r in (await conn.execute(text(
                "SELECT canonical_id, record_key, project, location, first_seen, last_seen FROM dedup_records "
                "WHERE canonical_id = ANY(:c) AND NOT deleted"), {"c": wanted})).mappings().all():
            members.setdefault(r["canonical_id"], []).append(domain.Member(
                record_key=r["record_key"], project=NormalizedProject.model_validate(_load(r["project"])),
                location=Location.model_validate(_load(r["location"])), first_seen=r["first_seen"],
                last_seen=r["last_seen"]))
        current = {r["id"]: r for r in (await conn.execute(text(
            "SELECT id, version, project, deleted FROM canonical_projects WHERE id = ANY(:c)"),
            {"c": wanted})).mappings().all()}
        changes, writes = [], []
        for cid in wanted:
            cause = causes.get(cid, default_cause)
            cur = current.get(cid)
            if cid not in members:
                if cur is None:
                    continue
                if cur["deleted"]:
                    changes.append(cause.child(CanonicalChanged, op=Operation.DELETE, canonical_id=cid,
                                               version=cur["version"]))
                    continue
                writes.append((cid, cur["version"] + 1, None, True))
                changes.append(cause.child(CanonicalChanged, op=Operation.DELETE, canonical_id=cid,
                                           version=cur["version"] + 1))
                continue
            merged = domain.merge(cid, members[cid], now)
            previous = None if cur is None or cur["deleted"] else CanonicalProject.model_validate(_load(cur["project"]))
            if previous is not None and domain.same_content(previous, merged):
                merged, version = previous, cur["version"]
            else:
                version = 1 if cur is None else cur["version"] + 1
                writes.append((cid, version, _json(merged), False))
            changes.append(cause.child(CanonicalChanged, op=Operation.UPSERT, canonical_id=cid, version=version,
                                       project=merged))
        if writes:
            cols = list(zip(*writes))
            await conn.execute(text(
                """
                INSERT INTO canonical_projects (id, version, project, deleted, first_seen, updated_at)
                SELECT i, v, CAST(p AS jsonb), d, :now, :now
                FROM unnest(CAST(:i AS text[]), CAST(:v AS int[]), CAST(:p AS text[]), CAST(:d AS bool[]))
                     AS t(i, v, p, d)
                ON CONFLICT (id) DO UPDATE SET version=EXCLUDED.version, project=EXCLUDED.project,
                    deleted=EXCLUDED.deleted, updated_at=EXCLUDED.updated_at
                """), dict(i=list(cols[0]), v=list(cols[1]), p=list(cols[2]), d=list(cols[3]), now=now))
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
