"""Dedup state in PostgreSQL: records (with features and blocks) → scored matches → clusters →
canonical projects (versioned, stable ids). The decisions are in the pure package
``services.indexer.dedup``; this module only loads and stores."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
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
from services.indexer.dedup import Edge, Features, assign_ids, block_keys, cluster, features, new_canonical_id, score
from services.indexer.dedup.scoring import KEEP_WEIGHT

BLOCK_CAP = 300
"""A block holding more records than this is not selective (a common word, a big city): skipped."""
MAX_CANDIDATES = 2000
LOCK = 0x6465647570  # one advisory lock: dedup transactions are serialised (see docs/dedup.md)


def _json(model) -> str:
    return model.model_dump_json()


def _load(value):
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


class DedupStore:
    """Applies one geocoded record and returns the canonical changes to publish.

    One transaction per event. An upsert stores the record's features and blocking keys, scores
    it against the candidates that share a selective block, stores the scored pairs, then
    re-clusters its neighbourhood (its old cluster and the clusters of its matches): records join,
    leave, merge or split, and every cluster keeps the id it had (see ``dedup.assign_ids``).
    Replaying an event returns the current state with its current version.
    """

    def __init__(self, engine: AsyncEngine, block_cap: int = BLOCK_CAP):
        self.engine = engine
        self.block_cap = block_cap

    async def apply(self, event: ProjectGeocoded) -> list[CanonicalChanged]:
        now = datetime.now(timezone.utc)
        key = event.key
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:l)"), {"l": LOCK})
            old = (await conn.execute(
                text("SELECT canonical_id, content_hash, location, url, deleted FROM dedup_records WHERE record_key=:k"),
                {"k": key},
            )).mappings().first()
            if event.op is Operation.UPSERT:
                if (old is not None and not old["deleted"] and old["content_hash"] == event.project.content_hash
                        and old["url"] == event.project.url
                        and _load(old["location"]) == event.location.model_dump(mode="json")):
                    return await self._emit(conn, {old["canonical_id"]}, now, event)
                f = features(event.project, event.location)
                await self._store_record(conn, event, f, now)
                neighbours = await self._match(conn, key, f, now)
                return await self._recluster(conn, {key} | neighbours, {old["canonical_id"]} if old else set(),
                                             key, now, event)
            if old is None:
                return []
            if old["deleted"]:
                # a redelivered deletion: re-emit the current state, in case the first delivery
                # committed here but died before publishing
                return await self._emit(conn, {old["canonical_id"]}, now, event)
            await conn.execute(text("UPDATE dedup_records SET deleted=true, features=NULL, match_weight=NULL, "
                                    "last_seen=:now WHERE record_key=:k"), {"k": key, "now": now})
            await conn.execute(text("DELETE FROM dedup_blocks WHERE record_key=:k"), {"k": key})
            await conn.execute(text("DELETE FROM dedup_matches WHERE record_a=:k OR record_b=:k"), {"k": key})
            return await self._recluster(conn, set(), {old["canonical_id"]}, key, now, event)

    async def apply_override(self, record_a: str, record_b: str, cause: Event) -> list[CanonicalChanged]:
        """Re-cluster around a pair after an operator decision (stored in ``dedup_overrides``)."""
        now = datetime.now(timezone.utc)
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:l)"), {"l": LOCK})
            rows = (await conn.execute(
                text("SELECT record_key, canonical_id FROM dedup_records WHERE record_key = ANY(:k) AND NOT deleted"),
                {"k": [record_a, record_b]},
            )).all()
            if not rows:
                return []
            return await self._recluster(conn, {r.record_key for r in rows}, {r.canonical_id for r in rows},
                                         None, now, cause)

    # ------------------------------------------------------------------ steps

    async def _store_record(self, conn: AsyncConnection, event: ProjectGeocoded, f: Features, now: datetime) -> None:
        await conn.execute(text(
            """
            INSERT INTO dedup_records (record_key, source, source_record_id, url, content_hash, project, location,
                                       features, deleted, first_seen, last_seen)
            VALUES (:k, :source, :rid, :url, :hash, CAST(:project AS jsonb), CAST(:location AS jsonb),
                    CAST(:features AS jsonb), false, :now, :now)
            ON CONFLICT (record_key) DO UPDATE SET url=EXCLUDED.url, content_hash=EXCLUDED.content_hash,
                project=EXCLUDED.project, location=EXCLUDED.location, features=EXCLUDED.features, deleted=false,
                last_seen=EXCLUDED.last_seen
            """),
            dict(k=event.key, source=event.source, rid=event.source_record_id, url=event.project.url,
                 hash=event.project.content_hash, project=_json(event.project), location=_json(event.location),
                 features=orjson.dumps(f.to_json()).decode(), now=now),
        )
        await conn.execute(text("DELETE FROM dedup_blocks WHERE record_key=:k"), {"k": event.key})
        await conn.execute(text("INSERT INTO dedup_blocks (block_key, record_key) "
                                "SELECT unnest(CAST(:b AS text[])), :k ON CONFLICT DO NOTHING"),
                           {"b": block_keys(f), "k": event.key})

    async def _match(self, conn: AsyncConnection, key: str, f: Features, now: datetime) -> set[str]:
        """Score the record against its candidates; store the pairs worth keeping; return the
        records it matches (and those an operator declared the same)."""
        candidates = (await conn.execute(text(
            """
            WITH wanted AS (SELECT unnest(CAST(:b AS text[])) AS block_key),
            selective AS (
                SELECT w.block_key FROM wanted w
                WHERE (SELECT count(*) FROM (SELECT 1 FROM dedup_blocks x WHERE x.block_key = w.block_key
                                             LIMIT :cap + 1) s) <= :cap)
            SELECT r.record_key, r.features FROM dedup_records r
            WHERE r.record_key IN (SELECT DISTINCT b.record_key FROM dedup_blocks b JOIN selective USING (block_key)
                                   WHERE b.record_key <> :k)
              AND NOT r.deleted
            LIMIT :max
            """), {"b": block_keys(f), "cap": self.block_cap, "k": key, "max": MAX_CANDIDATES})).all()
        await conn.execute(text("DELETE FROM dedup_matches WHERE record_a=:k OR record_b=:k"), {"k": key})
        rows = []
        matched: set[str] = set()
        for other, feats in candidates:
            s = score(f, Features.from_json(_load(feats)))
            if s.matched:
                matched.add(other)
            if s.matched or s.weight >= KEEP_WEIGHT:
                a, b = _pair(key, other)
                rows.append((a, b, s.weight, s.probability, s.matched, s.rule, orjson.dumps(s.explain()).decode()))
        if rows:
            cols = list(zip(*rows))
            await conn.execute(text(
                """
                INSERT INTO dedup_matches (record_a, record_b, weight, probability, matched, rule, explanation, scored_at)
                SELECT a, b, w, p, m, r, CAST(e AS jsonb), :now
                FROM unnest(CAST(:a AS text[]), CAST(:b AS text[]), CAST(:w AS float8[]), CAST(:p AS float8[]),
                            CAST(:m AS bool[]), CAST(:r AS text[]), CAST(:e AS text[])) AS t(a, b, w, p, m, r, e)
                """), dict(a=list(cols[0]), b=list(cols[1]), w=list(cols[2]), p=list(cols[3]), m=list(cols[4]),
                           r=list(cols[5]), e=list(cols[6]), now=now))
        return matched

    async def _recluster(self, conn: AsyncConnection, seeds: set[str], old_cids: set[str | None],
                         trigger: str | None, now: datetime, cause: Event) -> list[CanonicalChanged]:
        # operator "same" partners belong to the neighbourhood too
        if seeds:
            same = (await conn.execute(text(
                "SELECT record_a, record_b FROM dedup_overrides WHERE decision='same' "
                "AND (record_a = ANY(:s) OR record_b = ANY(:s))"), {"s": list(seeds)})).all()
            seeds = seeds | {k for pair in same for k in pair}
        rows = (await conn.execute(text(
            "SELECT canonical_id FROM dedup_records WHERE record_key = ANY(:s) AND NOT deleted "
            "AND canonical_id IS NOT NULL"), {"s": list(seeds)})).all() if seeds else []
        cids = {c for c in old_cids if c} | {r.canonical_id for r in rows}
        nodes_rows = (await conn.execute(text(
            "SELECT record_key, source, url, canonical_id, project->>'title' AS title FROM dedup_records "
            "WHERE NOT deleted AND (record_key = ANY(:s) OR canonical_id = ANY(:c))"),
            {"s": list(seeds), "c": list(cids)})).mappings().all()
        nodes = {r["record_key"]: (r["source"], r["url"]) for r in nodes_rows}
        keys = list(nodes)
        edges = [Edge(r.record_a, r.record_b, r.weight) for r in (await conn.execute(text(
            "SELECT record_a, record_b, weight FROM dedup_matches WHERE matched "
            "AND record_a = ANY(:k) AND record_b = ANY(:k)"), {"k": keys})).all()]
        overrides = (await conn.execute(text(
            "SELECT record_a, record_b, decision FROM dedup_overrides WHERE record_a = ANY(:k) AND record_b = ANY(:k)"),
            {"k": keys})).all()
        components = cluster(nodes, edges, same=[(o.record_a, o.record_b) for o in overrides if o.decision == "same"],
                             not_same=[(o.record_a, o.record_b) for o in overrides if o.decision == "not_same"])

        old: dict[str, set[str]] = {c: set() for c in cids}
        for r in nodes_rows:
            if r["canonical_id"]:
                old.setdefault(r["canonical_id"], set()).add(r["record_key"])
        if trigger and trigger in nodes:
            # a returning record whose project was deleted comes back under its old id
            for c in old_cids:
                if c:
                    old[c].add(trigger)
        first_seen = {r.id: (r.first_seen, r.id) for r in (await conn.execute(text(
            "SELECT id, first_seen FROM canonical_projects WHERE id = ANY(:c)"), {"c": list(old)})).all()}
        ids = assign_ids(components, old, trigger, first_seen)
        titles = {r["record_key"]: r["title"] for r in nodes_rows}
        taken = set(ids.values())
        weight_of: dict[str, float] = {}
        for e in edges:
            for k in (e.a, e.b):
                weight_of[k] = max(weight_of.get(k, float("-inf")), e.weight)
        updates = []
        for i, comp in enumerate(components):
            cid = ids.get(i)
            if cid is None:
                founder = comp[0]
                attempt = 0
                while True:
                    cid = new_canonical_id(titles[founder] or "", founder, attempt)
                    exists = (await conn.execute(text("SELECT 1 FROM canonical_projects WHERE id=:id"),
                                                 {"id": cid})).first()
                    if cid not in taken and not exists:
                        break
                    attempt += 1
                taken.add(cid)
            members = set(comp)
            for k in comp:
                mates = [e.weight for e in edges if (e.a == k and e.b in members) or (e.b == k and e.a in members)]
                updates.append((k, cid, max(mates) if mates else None))
        if updates:
            cols = list(zip(*updates))
            await conn.execute(text(
                "UPDATE dedup_records r SET canonical_id = u.c, match_weight = u.w "
                "FROM unnest(CAST(:k AS text[]), CAST(:c AS text[]), CAST(:w AS float8[])) AS u(k, c, w) "
                "WHERE r.record_key = u.k"), {"k": list(cols[0]), "c": list(cols[1]), "w": list(cols[2])})
        # publish only what changed: clusters whose members changed, and the trigger's old and new ones
        changed = {c for c in old if c not in ids.values()} | {c for c in old_cids if c}
        for i, comp in enumerate(components):
            cid = ids.get(i) or next(u[1] for u in updates if u[0] == comp[0])
            if set(comp) != old.get(cid, set()) or (trigger in comp):
                changed.add(cid)
        return await self._emit(conn, changed, now, cause)

    async def _emit(self, conn: AsyncConnection, cids: set[str | None], now: datetime,
                    cause: Event) -> list[CanonicalChanged]:
        changes = []
        for cid in sorted(c for c in cids if c):
            change = await self._recompute(conn, cid, now, cause)
            if change is not None:
                changes.append(change)
        return changes

    async def _recompute(self, conn: AsyncConnection, cid: str, now: datetime, cause: Event) -> CanonicalChanged | None:
        rows = (await conn.execute(
            text("SELECT record_key, project, location, first_seen, last_seen FROM dedup_records "
                 "WHERE canonical_id=:c AND NOT deleted"), {"c": cid},
        )).mappings().all()
        current = (await conn.execute(
            text("SELECT id, version, project, deleted FROM canonical_projects WHERE id=:c"), {"c": cid},
        )).mappings().first()
        if not rows:
            if current is None:
                return None
            if current["deleted"]:
                return cause.child(CanonicalChanged, op=Operation.DELETE, canonical_id=cid, version=current["version"])
            version = current["version"] + 1
            await conn.execute(text(
                "UPDATE canonical_projects SET deleted=true, project=NULL, version=:v, updated_at=:now WHERE id=:id"),
                {"v": version, "now": now, "id": cid})
            return cause.child(CanonicalChanged, op=Operation.DELETE, canonical_id=cid, version=version)
        members = [
            domain.Member(record_key=r["record_key"], project=NormalizedProject.model_validate(_load(r["project"])),
                          location=Location.model_validate(_load(r["location"])), first_seen=r["first_seen"],
                          last_seen=r["last_seen"])
            for r in rows
        ]
        merged = domain.merge(cid, members, now)
        if current is None:
            version = 1
            await conn.execute(text(
                "INSERT INTO canonical_projects (id, version, project, first_seen, updated_at) "
                "VALUES (:id, 1, CAST(:p AS jsonb), :now, :now)"), {"id": cid, "p": _json(merged), "now": now})
        else:
            previous = None if current["deleted"] else CanonicalProject.model_validate(_load(current["project"]))
            if previous is not None and domain.same_content(previous, merged):
                merged, version = previous, current["version"]
            else:
                version = current["version"] + 1
                await conn.execute(text(
                    "UPDATE canonical_projects SET version=:v, project=CAST(:p AS jsonb), deleted=false, "
                    "updated_at=:now WHERE id=:id"), {"v": version, "p": _json(merged), "now": now, "id": cid})
        return cause.child(CanonicalChanged, op=Operation.UPSERT, canonical_id=cid, version=version, project=merged)

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
