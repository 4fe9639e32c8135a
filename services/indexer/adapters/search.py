"""Search index writers. One interface, one implementation per backend.

PostgreSQL (embedded default): table ``search_documents`` with pre-folded text (no unaccent
extension in the embedded server, so accents are folded here, in Python, and in the same way
by the gateway's reader), a generated French tsvector and pg_trgm indexes. A write only lands
when its version is newer than the stored one, so replays and out-of-order duplicates are no-ops.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.events import CanonicalProject
from libs.contracts.search import fold
from services.indexer.domain import search_document


class IndexWriter(Protocol):
    async def upsert(self, project: CanonicalProject, version: int) -> bool: ...
    async def delete(self, canonical_id: str, version: int) -> bool: ...
    async def clear(self) -> None: ...


class PostgresIndexWriter:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def upsert(self, project: CanonicalProject, version: int) -> bool:
        doc = search_document(project, version)
        body = " ".join(filter(None, [doc.summary, doc.description, doc.holder_name, doc.commune_name,
                                      doc.departement_name, doc.region_name]))
        payload = {"doc": doc.model_dump_json(), "project": project.model_dump_json()}
        async with self.engine.begin() as conn:
            result = await conn.execute(text(
                """
                INSERT INTO search_documents (id, version, deleted, doc, title_folded, body_folded, theme, stage,
                    engineering, holder_type, source, region, departement, commune, lat, lon, first_seen, updated_at)
                VALUES (:id, :version, false, CAST(:doc AS jsonb) || jsonb_build_object('project', CAST(:project AS jsonb)),
                    :title_folded, :body_folded, :theme, :stage, :engineering, :holder_type, :source, :region,
                    :departement, :commune, :lat, :lon, :first_seen, :updated_at)
                ON CONFLICT (id) DO UPDATE SET version=EXCLUDED.version, deleted=false, doc=EXCLUDED.doc,
                    title_folded=EXCLUDED.title_folded, body_folded=EXCLUDED.body_folded, theme=EXCLUDED.theme,
                    stage=EXCLUDED.stage, engineering=EXCLUDED.engineering, holder_type=EXCLUDED.holder_type,
                    source=EXCLUDED.source, region=EXCLUDED.region, departement=EXCLUDED.departement,
                    commune=EXCLUDED.commune, lat=EXCLUDED.lat, lon=EXCLUDED.lon,
                    first_seen=EXCLUDED.first_seen, updated_at=EXCLUDED.updated_at, indexed_at=now()
                WHERE search_documents.version < EXCLUDED.version
                """),
                dict(id=doc.id, version=version, title_folded=fold(doc.title), body_folded=fold(body),
                     theme=doc.theme, stage=doc.stage, engineering=doc.engineering, holder_type=doc.holder_type,
                     source=doc.source, region=doc.region, departement=doc.departement, commune=doc.commune,
                     lat=doc.lat, lon=doc.lon, first_seen=doc.first_seen, updated_at=doc.updated_at, **payload),
            )
            return result.rowcount > 0

    async def delete(self, canonical_id: str, version: int) -> bool:
        # a tombstone keeps the version, so a late, older upsert cannot resurrect the project
        async with self.engine.begin() as conn:
            result = await conn.execute(text(
                """
                INSERT INTO search_documents (id, version, deleted) VALUES (:id, :version, true)
                ON CONFLICT (id) DO UPDATE SET version=EXCLUDED.version, deleted=true, doc=NULL,
                    title_folded='', body_folded='', theme='{}', engineering='{}', source='{}',
                    stage=NULL, holder_type=NULL, region=NULL, departement=NULL, commune=NULL, lat=NULL, lon=NULL,
                    indexed_at=now()
                WHERE search_documents.version < EXCLUDED.version
                """), {"id": canonical_id, "version": version})
            return result.rowcount > 0

    async def clear(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("TRUNCATE search_documents"))


def make_writer(backend: str, engine: AsyncEngine, meili_url: str | None = None, meili_key: str | None = None) -> IndexWriter:
    if backend == "postgres":
        return PostgresIndexWriter(engine)
    from services.indexer.adapters.search_meili import MeiliIndexWriter

    return MeiliIndexWriter(meili_url, meili_key)
