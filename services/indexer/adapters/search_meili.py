"""Meilisearch index writer: the same contract as :class:`PostgresIndexWriter`.

Documents are the contract's :class:`SearchDocument` plus what Meilisearch needs to do the
gateway's job: ``_geo`` (radius, bounding box, nearest), ``first_seen_ts``/``updated_at_ts``
(epoch seconds, sortable), ``deleted`` (tombstones are filtered out by every search),
``<facet>_label`` ("code|name", faceted so the reader can label every region, département and
commune it counts, not only those on the page) and ``project`` (the full canonical JSON, for
the project page).

Meilisearch has no conditional write, so the version guard reads the stored version before it
writes. Two writers racing on the same id in different processes could still interleave; the
indexer consumes ``projects.canonical.v1`` keyed by canonical id, so one id is only ever handled
by one consumer at a time, and within this process writes to one id are serialised by a lock.

The ``meilisearch`` client is synchronous and its HTTP layer mutates shared headers per request,
so every call runs in a worker thread (``asyncio.to_thread``) with a client of that thread's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import meilisearch
from meilisearch.errors import MeilisearchApiError

from libs.contracts.events import CanonicalProject
from libs.contracts.search import MEILI_INDEX, MEILI_SETTINGS
from services.indexer.domain import search_document

LABELLED = {"country": "country_name", "region": "region_name", "departement": "departement_name",
            "commune": "commune_name"}
"""Facets whose values are codes; ``<facet>_label`` = ``"<code>|<name>"`` (same convention in the reader)."""
LABEL_SEPARATOR = "|"
MAX_TOTAL_HITS = 10_000  # the gateway's MAX_RESULT_WINDOW: totals are exact up to this
TASK_TIMEOUT_MS = 60_000
REQUEST_TIMEOUT_S = 30
REBUILD_BATCH = 1000


def meili_settings() -> dict[str, Any]:
    """The contract's MEILI_SETTINGS (ranking rules, stop words and synonyms included), completed so
    Meilisearch answers like the PostgreSQL reader."""
    settings = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                for k, v in MEILI_SETTINGS.items()}
    # the PostgreSQL reader also matches département and région names, and the foreign city
    settings["searchableAttributes"] = list(dict.fromkeys(
        [*settings["searchableAttributes"], "departement_name", "region_name", "locality"]))
    settings["filterableAttributes"] = list(dict.fromkeys(
        [*settings["filterableAttributes"], "id", "deleted", "first_seen_month", "indexed_at_ts",
         *(f"{f}_label" for f in LABELLED)]))
    # ``id`` breaks ties, as ``ORDER BY ..., id`` does in PostgreSQL
    settings["sortableAttributes"] = list(dict.fromkeys([*settings["sortableAttributes"], "id"]))
    settings["faceting"] = {**settings.get("faceting", {}), "sortFacetValuesBy": {"*": "count"}}
    settings["pagination"] = {"maxTotalHits": MAX_TOTAL_HITS}
    return settings


class MeiliWriteError(RuntimeError):
    """A Meilisearch task did not succeed (or could not be enqueued)."""


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:  # naive timestamps are UTC throughout the platform
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def meili_document(project: CanonicalProject, version: int) -> dict[str, Any]:
    doc = search_document(project, version)
    body = doc.model_dump(mode="json")
    if doc.lat is not None and doc.lon is not None:
        body["_geo"] = {"lat": doc.lat, "lng": doc.lon}
    body["first_seen_ts"] = _epoch(doc.first_seen)
    body["updated_at_ts"] = _epoch(doc.updated_at)
    body["first_seen_month"] = datetime.fromtimestamp(body["first_seen_ts"], UTC).strftime("%Y-%m")
    for facet, name_field in LABELLED.items():
        code, name = body.get(facet), body.get(name_field)
        body[f"{facet}_label"] = f"{code}{LABEL_SEPARATOR}{name}" if code and name else None
    body["deleted"] = False
    body["project"] = project.model_dump(mode="json")
    return body


class MeiliIndexWriter:
    def __init__(self, url: str, key: str | None = None, *, index: str = MEILI_INDEX):
        if not url:
            raise ValueError("MeiliIndexWriter needs the Meilisearch URL (MEILI_URL)")
        self.url, self.key, self.index_uid = url, key, index
        self._local = threading.local()
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._id_locks = [asyncio.Lock() for _ in range(64)]

    # ------------------------------------------------------------------ plumbing

    def _client(self) -> meilisearch.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = meilisearch.Client(self.url, self.key, timeout=REQUEST_TIMEOUT_S)
        return client

    def _index(self):
        return self._client().index(self.index_uid)

    def _wait(self, task_info, what: str, tolerate: tuple[str, ...] = ()):
        task = self._client().wait_for_task(task_info.task_uid, timeout_in_ms=TASK_TIMEOUT_MS, interval_in_ms=25)
        if task.status == "succeeded":
            return task
        code = (task.error or {}).get("code")
        if task.status == "failed" and code in tolerate:
            return task
        message = (task.error or {}).get("message", "no error reported")
        raise MeiliWriteError(f"Meilisearch {what} on index {self.index_uid!r}: task {task.uid} {task.status}"
                              f" ({code or 'no code'}): {message}")

    def _lock(self, canonical_id: str) -> asyncio.Lock:
        return self._id_locks[zlib.crc32(canonical_id.encode()) % len(self._id_locks)]

    async def _ensure(self) -> None:
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                await asyncio.to_thread(self._ensure_sync)
                self._ready = True

    def _ensure_sync(self) -> None:
        client = self._client()
        self._wait(client.create_index(self.index_uid, {"primaryKey": "id"}), "create index",
                   tolerate=("index_already_exists",))
        primary_key = client.get_index(self.index_uid).primary_key
        if primary_key not in (None, "id"):
            raise MeiliWriteError(
                f"Meilisearch index {self.index_uid!r} has primary key {primary_key!r}, expected 'id'")
        self._wait(self._index().update_settings(meili_settings()), "update settings")

    def _stored_version(self, canonical_id: str) -> int:
        try:
            stored = self._index().get_document(quote(canonical_id, safe=""), {"fields": ["version"]})
        except MeilisearchApiError as exc:
            if exc.code == "document_not_found":
                return 0
            raise
        return int(getattr(stored, "version", 0) or 0)

    def _write_if_newer(self, canonical_id: str, version: int, document: dict[str, Any], what: str,
                        replace_equal: bool = False) -> bool:
        stored = self._stored_version(canonical_id)
        if stored > version or (stored == version and not replace_equal):
            return False
        document = {**document, "indexed_at_ts": time.time()}  # what a rebuild carries over
        self._wait(self._index().add_documents([document], primary_key="id"), f"{what} {canonical_id} v{version}")
        return True

    # ------------------------------------------------------------------ IndexWriter

    async def upsert(self, project: CanonicalProject, version: int, *, replace_equal: bool = False) -> bool:
        """Write ``project`` unless the index holds a newer version — or an equal one, unless
        ``replace_equal`` (a holder edit: only the overlaid fields changed)."""
        await self._ensure()
        document = meili_document(project, version)
        what = "holder edit" if replace_equal else "upsert"
        async with self._lock(project.id):
            return await asyncio.to_thread(self._write_if_newer, project.id, version, document, what, replace_equal)

    async def upsert_many(self, items: list[tuple[CanonicalProject, int]]) -> int:
        """A polled batch in one Meilisearch task (one indexing wait, not one per project), with the
        same version guard as :meth:`upsert`: each stored version is read first, under the ids' locks."""
        if not items:
            return 0
        await self._ensure()
        latest: dict[str, tuple[int, dict[str, Any]]] = {}
        for project, version in items:
            if project.id not in latest or version > latest[project.id][0]:
                latest[project.id] = (version, meili_document(project, version))
        slots = sorted({zlib.crc32(cid.encode()) % len(self._id_locks) for cid in latest})
        async with contextlib.AsyncExitStack() as stack:
            for slot in slots:  # always in the same order: two batches never wait on each other in a cycle
                await stack.enter_async_context(self._id_locks[slot])
            return await asyncio.to_thread(self._write_many_if_newer, latest)

    def _write_many_if_newer(self, latest: dict[str, tuple[int, dict[str, Any]]]) -> int:
        now = time.time()
        newer = [{**document, "indexed_at_ts": now} for cid, (version, document) in latest.items()
                 if self._stored_version(cid) < version]
        if newer:
            self._wait(self._index().add_documents(newer, primary_key="id"), f"upsert of {len(newer)} documents")
        return len(newer)

    async def delete(self, canonical_id: str, version: int) -> bool:
        # a tombstone keeps the version, so a late, older upsert cannot resurrect the project
        await self._ensure()
        tombstone = {"id": canonical_id, "version": version, "deleted": True}
        async with self._lock(canonical_id):
            return await asyncio.to_thread(self._write_if_newer, canonical_id, version, tombstone, "delete")

    async def clear(self) -> None:
        await self._ensure()
        await asyncio.to_thread(lambda: self._wait(self._index().delete_all_documents(), "clear"))

    # ------------------------------------------------------------------ zero-downtime rebuild

    async def rebuild(self, projects) -> int:
        """Build a new index beside the live one, carry over what the live index received
        meanwhile, then swap them atomically (``swap-indexes``) and delete the old one. Searches
        keep hitting the live index until the swap. A write landing on the live index between the
        carry-over and the swap (a few milliseconds) would be lost until the project changes again
        or the next rebuild: stop the indexer's consumers around the swap if that matters."""
        await self._ensure()
        started = time.time()
        next_uid = f"{self.index_uid}_next_{int(started * 1000)}"
        builder = MeiliIndexWriter(self.url, self.key, index=next_uid)
        await builder._ensure()
        n, batch = 0, []
        try:
            async for project, version in projects:
                batch.append({**meili_document(project, version), "indexed_at_ts": started})
                if len(batch) >= REBUILD_BATCH:
                    await asyncio.to_thread(builder._add_batch, batch)
                    n, batch = n + len(batch), []
            await asyncio.to_thread(builder._add_batch, batch)
            n += len(batch)
            await asyncio.to_thread(self._catch_up_and_swap, builder, started)
        except BaseException:
            await asyncio.to_thread(self._drop_index, next_uid)
            raise
        return n

    def _add_batch(self, documents: list[dict[str, Any]]) -> None:
        if documents:
            self._wait(self._index().add_documents(documents, primary_key="id"), f"bulk add {len(documents)}")

    def _catch_up_and_swap(self, builder: MeiliIndexWriter, started: float) -> None:
        offset = 0
        while True:
            page = self._index().get_documents({"filter": f"indexed_at_ts >= {started}", "limit": 1000,
                                                "offset": offset})
            docs = [dict(vars(d)) for d in page.results]
            for doc in docs:
                doc.pop("_Document__doc", None)
                builder._write_if_newer(doc["id"], int(doc.get("version") or 0), doc, "carry over")
            if len(docs) < 1000:
                break
            offset += 1000
        client = self._client()
        self._wait(client.swap_indexes([{"indexes": [self.index_uid, builder.index_uid]}]), "swap indexes")
        self._drop_index(builder.index_uid)

    def _drop_index(self, uid: str) -> None:
        client = self._client()
        self._wait(client.delete_index(uid), f"delete index {uid}", tolerate=("index_not_found",))
