"""The second half of a dedup transaction: re-cluster a neighbourhood of records (under per-project
locks), give the clusters their stable ids, and turn every changed project into a new canonical
version to publish. Mixed into ``DedupStore`` (``db.py``), whose transaction it runs in."""

from __future__ import annotations

from datetime import datetime

import orjson
import structlog

from libs.contracts.events import (
    CanonicalChanged,
    Event,
    Location,
    NormalizedProject,
    Operation,
)
from services.indexer import domain
from services.indexer.adapters.candidates import (
    CLUSTER_LOCKS,
    lock_more,
)
from services.indexer.dedup import (
    Edge,
    assign_ids,
    cluster,
    new_canonical_id,
)

log = structlog.get_logger()


def _same_content(a: dict, b: dict) -> bool:
    """Two canonical projects as stored (JSON) equal but for ``updated_at``: a replay or an
    unchanged record makes no new version."""
    return {k: v for k, v in a.items() if k != "updated_at"} == {k: v for k, v in b.items() if k != "updated_at"}


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class ProjectWriter:
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
                    causes: dict[str, Event] | None = None, locked: set[str] | None = None,
                    written: dict[str, tuple[NormalizedProject, Location]] | None = None) -> list[CanonicalChanged]:
        """Merge each project from its live records; write a new version only when it changed.
        ``written``: the records this transaction has just stored, as models (neither sent back by
        the database nor parsed again)."""
        causes = causes or {}
        written = written or {}
        wanted = sorted(c for c in cids if c)
        if not wanted:
            return []
        await lock_more(db, CLUSTER_LOCKS, wanted, set() if locked is None else locked)
        members: dict[str, list[domain.Member]] = {}
        current: dict[str, tuple[int, bool, str | None]] = {}
        for r in await db.fetch(
                "SELECT 0 AS kind, canonical_id AS id, record_key, "
                "CASE WHEN record_key = ANY($2::text[]) THEN NULL ELSE project::text END AS project, "
                "CASE WHEN record_key = ANY($2::text[]) THEN NULL ELSE location::text END AS location, "
                "first_seen, last_seen, NULL::int AS version, NULL::bool AS deleted "
                "FROM dedup_records WHERE canonical_id = ANY($1::text[]) AND NOT deleted "
                "UNION ALL SELECT 1, id, NULL, project::text, NULL, NULL, NULL, version, deleted "
                "FROM canonical_projects WHERE id = ANY($1::text[])", wanted, list(written)):
            if r["kind"] == 0:
                key = r["record_key"]
                project, location = written[key] if key in written else (
                    NormalizedProject.model_validate_json(r["project"]), Location.model_validate_json(r["location"]))
                members.setdefault(r["id"], []).append(domain.Member(
                    record_key=key, project=project, location=location, first_seen=r["first_seen"],
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
