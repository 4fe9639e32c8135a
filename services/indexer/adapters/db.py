"""Dedup state in PostgreSQL: source records → clusters → canonical projects (versioned)."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.contracts.events import (
    CanonicalChanged,
    CanonicalProject,
    Location,
    NormalizedProject,
    Operation,
    ProjectGeocoded,
)
from services.indexer import domain


def _json(model) -> str:
    return model.model_dump_json()


def _load(value):
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


class DedupStore:
    """Applies one geocoded record and returns the canonical changes to publish.

    Everything happens in one transaction, under advisory locks on the dedup keys involved, so
    concurrent consumers never interleave on one cluster. Replaying an event returns the current
    state with its current version (no new version), which downstream ignores.
    """

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def apply(self, event: ProjectGeocoded) -> list[CanonicalChanged]:
        now = datetime.now(timezone.utc)
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "rec:" + event.key})
            old = (await conn.execute(
                text("SELECT dedup_key, content_hash, location, deleted FROM source_records WHERE record_key=:k"),
                {"k": event.key},
            )).mappings().first()
            affected: set[str] = set()
            if old is not None and old["dedup_key"]:
                # even when already deleted: a redelivered deletion re-emits the current state, in case
                # the first delivery committed here but died before publishing it
                affected.add(old["dedup_key"])
            if event.op is Operation.UPSERT:
                key = domain.dedup_key(event.project, event.location)
                affected.add(key)
            for k in sorted(affected):
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": k})

            if event.op is Operation.UPSERT:
                unchanged = (
                    old is not None and not old["deleted"] and old["dedup_key"] == key
                    and old["content_hash"] == event.project.content_hash
                    and _load(old["location"]) == event.location.model_dump(mode="json")
                )
                if not unchanged:
                    await conn.execute(text(
                        """
                        INSERT INTO source_records (record_key, source, source_record_id, dedup_key, content_hash,
                                                    project, location, deleted, first_seen, last_seen)
                        VALUES (:k, :source, :rid, :dk, :hash, CAST(:project AS jsonb), CAST(:location AS jsonb),
                                false, :now, :now)
                        ON CONFLICT (record_key) DO UPDATE SET dedup_key=EXCLUDED.dedup_key,
                            content_hash=EXCLUDED.content_hash, project=EXCLUDED.project,
                            location=EXCLUDED.location, deleted=false, last_seen=EXCLUDED.last_seen
                        """),
                        dict(k=event.key, source=event.source, rid=event.source_record_id, dk=key,
                             hash=event.project.content_hash, project=_json(event.project),
                             location=_json(event.location), now=now),
                    )
            elif old is not None and not old["deleted"]:
                await conn.execute(
                    text("UPDATE source_records SET deleted=true, last_seen=:now WHERE record_key=:k"),
                    {"k": event.key, "now": now},
                )
            return [c for k in sorted(affected) if (c := await self._recompute(conn, k, now, event)) is not None]

    async def _recompute(self, conn: AsyncConnection, key: str, now: datetime, cause) -> CanonicalChanged | None:
        rows = (await conn.execute(
            text("SELECT record_key, project, location, first_seen, last_seen FROM source_records "
                 "WHERE dedup_key=:k AND NOT deleted"), {"k": key},
        )).mappings().all()
        current = (await conn.execute(
            text("SELECT id, version, project, deleted FROM canonical_projects WHERE dedup_key=:k FOR UPDATE"),
            {"k": key},
        )).mappings().first()
        if not rows:
            if current is None:
                return None
            if current["deleted"]:
                return cause.child(CanonicalChanged, op=Operation.DELETE, canonical_id=current["id"],
                                   version=current["version"])
            version = current["version"] + 1
            await conn.execute(text(
                "UPDATE canonical_projects SET deleted=true, project=NULL, version=:v, updated_at=:now WHERE id=:id"),
                {"v": version, "now": now, "id": current["id"]})
            await conn.execute(text("UPDATE source_records SET canonical_id=NULL WHERE dedup_key=:k AND deleted"),
                               {"k": key})
            return cause.child(CanonicalChanged, op=Operation.DELETE, canonical_id=current["id"], version=version)

        members = [
            domain.Member(
                record_key=r["record_key"],
                project=NormalizedProject.model_validate(_load(r["project"])),
                location=Location.model_validate(_load(r["location"])),
                first_seen=r["first_seen"],
                last_seen=r["last_seen"],
            )
            for r in rows
        ]
        cid = current["id"] if current else domain.canonical_id(key, members[0].project.title)
        merged = domain.merge(cid, members, now)
        if current is None:
            version = 1
            await conn.execute(text(
                "INSERT INTO canonical_projects (id, dedup_key, version, project, first_seen, updated_at) "
                "VALUES (:id, :k, 1, CAST(:p AS jsonb), :now, :now)"),
                {"id": cid, "k": key, "p": _json(merged), "now": now})
        else:
            previous = None if current["deleted"] else CanonicalProject.model_validate(_load(current["project"]))
            if previous is not None and domain.same_content(previous, merged):
                merged, version = previous, current["version"]
            else:
                version = current["version"] + 1
                await conn.execute(text(
                    "UPDATE canonical_projects SET version=:v, project=CAST(:p AS jsonb), deleted=false, "
                    "updated_at=:now WHERE id=:id"),
                    {"v": version, "p": _json(merged), "now": now, "id": cid})
        await conn.execute(text("UPDATE source_records SET canonical_id=:id WHERE dedup_key=:k AND NOT deleted"),
                           {"id": cid, "k": key})
        return cause.child(CanonicalChanged, op=Operation.UPSERT, canonical_id=cid, version=version, project=merged)

    async def all_canonical(self):
        """Every live canonical project with its version (for a full reindex)."""
        async with self.engine.connect() as conn:
            result = await conn.stream(text(
                "SELECT id, version, project FROM canonical_projects WHERE NOT deleted ORDER BY id"))
            async for row in result:
                yield CanonicalProject.model_validate(_load(row.project)), row.version
