"""Holder edits in the search index: a verified holder's fields laid over the canonical project.

``projects.holder_edits.v1`` (``HolderEditChanged``, keyed by canonical id) carries the full
state of the holder-owned published fields (``None`` = the partners' value) with a per-project
version. The indexer keeps the newest state in ``claims_index_overlays`` and:

- on a holder edit: stores it (version-guarded), reads the newest canonical project of the dedup
  store and writes it, overlaid, to the index at that canonical version — the one write allowed
  at an *equal* version, since the canonical content did not change;
- on every canonical upsert (``on_canonical``) and full reindex: lays the stored overlay over the
  project before writing it, so a later partner update keeps the holder's fields.

Why no race loses an edit: a canonical event is published after the dedup store committed its
version, so the version the holder-edit path reads from the store is at least that of any
canonical event in flight; that event's write is then refused by the index's strict version
guard if it comes second (and overwritten, at ``<=``, if it comes first).

The partners' record stays untouched in the dedup store: clearing a field (``None``) shows the
partners' value again. ``field_sources`` names ``holder`` for each overlaid field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import orjson
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.events import CanonicalProject, HolderEditChanged, _http_url
from libs.contracts.taxonomy import taxonomy
from libs.contracts.topics import HOLDER_EDITS
from libs.runtime.messaging import Rejected, consumer
from services.indexer.adapters.search import IndexWriter

log = structlog.get_logger()
HOLDER_EDITS_GROUP = "indexer-holder-edits"
HOLDER_SOURCE = "holder"
FIELDS = ("summary", "description", "website", "stage", "themes")
MAX_TEXT = {"summary": 500, "description": 10_000, "website": 2048}


# --------------------------------------------------------------------------- pure


def checked_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The event's fields, checked: known names, right types and sizes, taxonomy slugs, http(s)
    website. Raises ValueError naming the first bad field."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in FIELDS:
            raise ValueError(f"{name}: not a holder field")
        if value is None:
            out[name] = None
        elif name == "themes":
            known = taxonomy().slugs("theme")
            if not isinstance(value, list) or any(v not in known for v in value):
                raise ValueError("themes: taxonomy theme slugs expected")
            out[name] = list(dict.fromkeys(value)) or None
        elif not isinstance(value, str):
            raise ValueError(f"{name}: text expected")
        elif name == "stage":
            if value not in taxonomy().slugs("stage"):
                raise ValueError("stage: unknown stage")
            out[name] = value
        else:
            if len(value) > MAX_TEXT[name]:
                raise ValueError(f"{name}: longer than {MAX_TEXT[name]}")
            out[name] = _http_url(value) if name == "website" else value
    return out


def overlay(project: CanonicalProject, fields: Mapping[str, Any] | None) -> CanonicalProject:
    """The canonical project with the holder's fields over the partners' ones (unset fields keep
    the partners' values); ``field_sources`` says ``holder`` for each field the holder set."""
    if not fields:
        return project
    updates: dict[str, Any] = {}
    for name in FIELDS:
        value = fields.get(name)
        if value is None or value == "" or value == []:
            continue
        updates[name] = list(value) if name == "themes" else value
    if not updates:
        return project
    if "website" in updates and project.contact is not None and project.contact.website:
        updates["contact"] = project.contact.model_copy(update={"website": updates["website"]})
    updates["field_sources"] = {**project.field_sources, **{name: HOLDER_SOURCE for name in updates
                                                           if name in FIELDS}}
    return project.model_copy(update=updates)


# --------------------------------------------------------------------------- store


class HolderOverlays:
    """``claims_index_overlays``: the newest holder fields per project, as the indexer saw them."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def store(self, canonical_id: str, version: int, fields: dict[str, Any]) -> bool:
        """Keep this state unless a newer one is stored; True when it was stored."""
        async with self.engine.begin() as conn:
            result = await conn.execute(text(
                """
                INSERT INTO claims_index_overlays (project_id, version, fields) VALUES (:p, :v, CAST(:f AS jsonb))
                ON CONFLICT (project_id) DO UPDATE SET version = EXCLUDED.version, fields = EXCLUDED.fields,
                    updated_at = now()
                WHERE claims_index_overlays.version < EXCLUDED.version
                """), {"p": canonical_id, "v": version, "f": orjson.dumps(fields).decode()})
            return result.rowcount > 0

    async def fields_for(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(ids)
        if not ids:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT project_id, fields FROM claims_index_overlays WHERE project_id = ANY(:i)"), {"i": ids})
            return {r.project_id: _loads(r.fields) for r in rows}

    async def apply(self, items: list[tuple[CanonicalProject, int]]) -> list[tuple[CanonicalProject, int]]:
        """Canonical upserts with their overlays laid over (one query for the batch)."""
        if not items:
            return items
        found = await self.fields_for(p.id for p, _ in items)
        if not found:
            return items
        return [(overlay(p, found.get(p.id)), v) for p, v in items]

    async def overlaid(self, projects: AsyncIterator[tuple[CanonicalProject, int]],
                       batch: int = 500) -> AsyncIterator[tuple[CanonicalProject, int]]:
        """A stream of canonical projects (a full reindex) with their overlays."""
        pending: list[tuple[CanonicalProject, int]] = []
        async for item in projects:
            pending.append(item)
            if len(pending) >= batch:
                for out in await self.apply(pending):
                    yield out
                pending = []
        for out in await self.apply(pending):
            yield out

    async def current_canonical(self, canonical_id: str) -> tuple[CanonicalProject, int] | None:
        """The dedup store's newest canonical project and version (None when unknown or deleted)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT version, project, deleted FROM canonical_projects WHERE id = :i"), {"i": canonical_id})).first()
        if row is None or row.deleted or row.project is None:
            return None
        return CanonicalProject.model_validate(_loads(row.project)), row.version


def _loads(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


# --------------------------------------------------------------------------- index write at an equal version


async def write_overlaid(writer: IndexWriter, project: CanonicalProject, version: int) -> bool:
    """Write ``project`` at canonical ``version`` unless the index holds a newer version (an equal
    one is replaced: only the holder's fields changed)."""
    return await writer.upsert(project, version, replace_equal=True)


# --------------------------------------------------------------------------- subscriber


def register_holder_edits(broker, service: str, overlays: HolderOverlays, writer: Any) -> None:
    @consumer(broker, service=service, topics=HOLDER_EDITS, group_id=HOLDER_EDITS_GROUP, model=HolderEditChanged)
    async def on_holder_edit(event: HolderEditChanged) -> str:
        try:
            fields = checked_fields(event.fields)
        except ValueError as exc:
            raise Rejected(f"holder edit of {event.canonical_id}: {exc}") from None
        stored = await overlays.store(event.canonical_id, event.version, fields)
        # idempotent: whether this version was stored or an equal/newer one was, the index gets the
        # stored overlay over the newest canonical project
        current = await overlays.current_canonical(event.canonical_id)
        if current is None:
            return f"holder edit v{event.version} kept ({'stored' if stored else 'not newer'}); project not indexed"
        project, version = current
        latest = (await overlays.fields_for([event.canonical_id])).get(event.canonical_id)
        written = await write_overlaid(writer, overlay(project, latest), version)
        return f"holder edit v{event.version} {'stored' if stored else 'not newer'}; index {'written' if written else 'newer'}"
