"""Search index writers. One interface, one implementation per backend.

PostgreSQL (embedded default): table ``search_documents`` with pre-folded text (no unaccent
extension in the embedded server, so accents are folded here, in Python, and in the same way
by the gateway's reader), a generated French tsvector and pg_trgm indexes. A write only lands
when its version is newer than the stored one, so replays and out-of-order duplicates are no-ops.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.events import CanonicalProject
from libs.contracts.text import fold
from services.indexer.domain import search_document


class IndexWriter(Protocol):
    async def upsert(self, project: CanonicalProject, version: int, *, replace_equal: bool = False) -> bool: ...
    async def upsert_many(self, items: list[tuple[CanonicalProject, int]]) -> object: ...
    async def delete(self, canonical_id: str, version: int) -> bool: ...
    async def clear(self) -> None: ...
    async def rebuild(self, projects: AsyncIterator[tuple[CanonicalProject, int]]) -> int: ...


REBUILD_BATCH = 500
REBUILD_LOCK = 60_406  # pg_advisory_lock key: one rebuild at a time
COLUMNS = ("id, version, deleted, doc, title_folded, body_folded, theme, stage, engineering, holder_type, source, "
           "region, departement, commune, lat, lon, first_seen, updated_at, indexed_at, region_name, departement_name, "
           "commune_name, country, country_name")


class PostgresIndexWriter:
    table = "search_documents"

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @staticmethod
    def _params(project: CanonicalProject, version: int) -> dict:
        doc = search_document(project, version)
        body = " ".join(filter(None, [doc.summary, doc.description, doc.holder_name, doc.commune_name,
                                      doc.departement_name, doc.region_name,
                                      doc.locality]))
        return dict(id=doc.id, version=version, title_folded=fold(doc.title), body_folded=fold(body),
                    theme=doc.theme, stage=doc.stage, engineering=doc.engineering, holder_type=doc.holder_type,
                    source=doc.source, region=doc.region, departement=doc.departement, commune=doc.commune,
                    lat=doc.lat, lon=doc.lon, first_seen=doc.first_seen, updated_at=doc.updated_at,
                    region_name=doc.region_name, departement_name=doc.departement_name,
                    commune_name=doc.commune_name, country=doc.country, country_name=doc.country_name,
                    doc=doc.model_dump_json(), project=project.model_dump_json())

    @staticmethod
    def _upsert_sql(table: str, guard: str = "<") -> str:
        return f"""
                INSERT INTO {table} (id, version, deleted, doc, title_folded, body_folded, theme, stage,
                    engineering, holder_type, source, region, departement, commune, lat, lon, first_seen, updated_at,
                    region_name, departement_name, commune_name, country, country_name)
                VALUES (:id, :version, false, CAST(:doc AS jsonb) || jsonb_build_object('project', CAST(:project AS jsonb)),
                    :title_folded, :body_folded, :theme, :stage, :engineering, :holder_type, :source, :region,
                    :departement, :commune, :lat, :lon, :first_seen, :updated_at,
                    :region_name, :departement_name, :commune_name, :country, :country_name)
                ON CONFLICT (id) DO UPDATE SET version=EXCLUDED.version, deleted=false, doc=EXCLUDED.doc,
                    title_folded=EXCLUDED.title_folded, body_folded=EXCLUDED.body_folded, theme=EXCLUDED.theme,
                    stage=EXCLUDED.stage, engineering=EXCLUDED.engineering, holder_type=EXCLUDED.holder_type,
                    source=EXCLUDED.source, region=EXCLUDED.region, departement=EXCLUDED.departement,
                    commune=EXCLUDED.commune, lat=EXCLUDED.lat, lon=EXCLUDED.lon,
                    first_seen=EXCLUDED.first_seen, updated_at=EXCLUDED.updated_at, indexed_at=now(),
                    region_name=EXCLUDED.region_name, departement_name=EXCLUDED.departement_name,
                    commune_name=EXCLUDED.commune_name, country=EXCLUDED.country, country_name=EXCLUDED.country_name
                WHERE {table}.version {guard} EXCLUDED.version
                """

    async def upsert(self, project: CanonicalProject, version: int, *, replace_equal: bool = False) -> bool:
        """Write ``project`` unless the index holds a newer version — or an equal one, unless
        ``replace_equal`` (a holder edit: only the overlaid fields changed)."""
        sql = self._upsert_sql(self.table, "<=" if replace_equal else "<")
        async with self.engine.begin() as conn:
            result = await conn.execute(text(sql), self._params(project, version))
            return result.rowcount > 0

    async def upsert_many(self, items: list[tuple[CanonicalProject, int]], *, table: str | None = None) -> None:
        """Bulk load (reindex, benchmarks): one transaction, one prepared statement for the batch;
        the same version guard as :meth:`upsert`."""
        if not items:
            return
        async with self.engine.begin() as conn:
            await conn.execute(text(self._upsert_sql(table or self.table)), [self._params(p, v) for p, v in items])

    async def delete(self, canonical_id: str, version: int) -> bool:
        # a tombstone keeps the version, so a late, older upsert cannot resurrect the project
        async with self.engine.begin() as conn:
            result = await conn.execute(text(
                """
                INSERT INTO search_documents (id, version, deleted) VALUES (:id, :version, true)
                ON CONFLICT (id) DO UPDATE SET version=EXCLUDED.version, deleted=true, doc=NULL,
                    title_folded='', body_folded='', theme='{}', engineering='{}', source='{}',
                    stage=NULL, holder_type=NULL, region=NULL, departement=NULL, commune=NULL, lat=NULL, lon=NULL,
                    region_name=NULL, departement_name=NULL, commune_name=NULL, country=NULL, country_name=NULL,
                    indexed_at=now()
                WHERE search_documents.version < EXCLUDED.version
                """), {"id": canonical_id, "version": version})
            return result.rowcount > 0

    async def clear(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("TRUNCATE search_documents"))

    @staticmethod
    async def _index_names(conn, table: str) -> dict[str, str]:
        """{definition without its name and table: index name} of a table's indexes."""
        rows = (await conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"),
                                   {"t": table})).all()
        return {re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ ", r"\1", r.indexdef): r.indexname for r in rows}

    async def _build_indexes_like_live(self) -> None:
        """On ``search_documents_next``, every index of the live table it lacks (same definitions;
        named after it until the swap gives them the live names)."""
        async with self.engine.begin() as conn:
            await conn.execute(text("SET LOCAL maintenance_work_mem = '128MB'"))
            live = await self._index_names(conn, "search_documents")
            have = await self._index_names(conn, "search_documents_next")
            for k, definition in enumerate(sorted(d for d in live if d not in have)):
                unique = "UNIQUE " if definition.startswith("UNIQUE ") else ""
                await conn.execute(text(f'CREATE {unique}INDEX "search_documents_next_{k}" ON search_documents_next '
                                        + definition.removeprefix("UNIQUE ")))

    async def rebuild(self, projects: AsyncIterator[tuple[CanonicalProject, int]]) -> int:
        """Zero-downtime full rebuild: load a new table beside the live one, then swap them.

        1. ``search_documents_next`` = same columns and generated tsvector (``LIKE ... INCLUDING
           ALL EXCLUDING INDEXES``) and a primary key, filled in batches while the gateway keeps
           reading the live table and the indexer keeps writing to it; then the live table's other
           indexes are built on it, each in one go;
        2. in one short transaction: writers are held off (``SHARE ROW EXCLUSIVE`` lock on the live
           table; readers are not), every row the live table received since the rebuild started
           (upserts and tombstones, ``indexed_at``) is carried over when its version is newer, and
           the tables are renamed; the old one is dropped. Readers wait only for the renames (ms);
           a reader never sees an empty or half-built index.
        """
        n = 0
        async with self.engine.connect() as lock_conn:
            await lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": REBUILD_LOCK})
            try:
                async with self.engine.begin() as conn:
                    started = (await conn.execute(text("SELECT clock_timestamp()"))).scalar()
                    await conn.execute(text("DROP TABLE IF EXISTS search_documents_next"))
                    # the indexes are built once the table is loaded (a GIN index built in one go is many
                    # times cheaper than one kept up row by row); the primary key serves the upserts
                    await conn.execute(text("CREATE TABLE search_documents_next "
                                            "(LIKE search_documents INCLUDING ALL EXCLUDING INDEXES)"))
                    await conn.execute(text("ALTER TABLE search_documents_next ADD PRIMARY KEY (id)"))
                    await conn.execute(text("ALTER TABLE search_documents_next SET (toast_tuple_target = 1024)"))
                batch: list[tuple[CanonicalProject, int]] = []
                async for project, version in projects:
                    batch.append((project, version))
                    if len(batch) >= REBUILD_BATCH:
                        await self.upsert_many(batch, table="search_documents_next")
                        n += len(batch)
                        batch = []
                await self.upsert_many(batch, table="search_documents_next")
                n += len(batch)
                await self._build_indexes_like_live()
                async with self.engine.connect() as conn:  # fresh bulk load: hint bits, visibility map, stats
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(text("VACUUM ANALYZE search_documents_next"))
                async with self.engine.begin() as conn:
                    await conn.execute(text("LOCK TABLE search_documents IN SHARE ROW EXCLUSIVE MODE"))
                    await conn.execute(text(
                        f"INSERT INTO search_documents_next ({COLUMNS}) SELECT {COLUMNS} FROM search_documents "
                        "WHERE indexed_at >= :started ON CONFLICT (id) DO UPDATE SET "
                        + ", ".join(f"{c}=EXCLUDED.{c}" for c in COLUMNS.split(", ") if c != "id")
                        + " WHERE search_documents_next.version < EXCLUDED.version"), {"started": started})
                    names = await self._index_names(conn, "search_documents")
                    # LIKE ... INCLUDING ALL copies no triggers: carry them over (the index generation
                    # the gateway's result cache checks is bumped by one, migration 0010)
                    triggers = (await conn.execute(text(
                        "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
                        "WHERE tgrelid = 'search_documents'::regclass AND NOT tgisinternal"))).scalars().all()
                    await conn.execute(text("ALTER TABLE search_documents RENAME TO search_documents_old"))
                    await conn.execute(text("ALTER TABLE search_documents_next RENAME TO search_documents"))
                    await conn.execute(text("DROP TABLE search_documents_old"))
                    for definition in triggers:
                        await conn.execute(text(definition))
                    if (await conn.execute(text("SELECT to_regclass('search_index_state')"))).scalar():
                        await conn.execute(text("UPDATE search_index_state SET generation = generation + 1"))
                    # the new table's indexes take the old names, so migrations can keep naming them
                    for definition, name in (await self._index_names(conn, "search_documents")).items():
                        if definition in names and names[definition] != name:
                            await conn.execute(text(f'ALTER INDEX "{name}" RENAME TO "{names[definition]}"'))
            finally:
                await lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": REBUILD_LOCK})
        return n


def make_writer(backend: str, engine: AsyncEngine, meili_url: str | None = None, meili_key: str | None = None) -> IndexWriter:
    if backend == "postgres":
        return PostgresIndexWriter(engine)
    from services.indexer.adapters.search_meili import MeiliIndexWriter

    return MeiliIndexWriter(meili_url, meili_key)
