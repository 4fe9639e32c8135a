"""Pure crawling logic: map a partner's export onto PartnerRecords, detect changes. No I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from libs.contracts.events import PartnerRecord

FRENCH_FIELDS: dict[str, str] = {
    "source_record_id": "id",
    "url": "url",
    "title": "titre",
    "description": "description",
    "address": "adresse",
    "commune": "commune",
    "postcode": "code_postal",
    "country": "pays",
    "lat": "latitude",
    "lon": "longitude",
    "themes": "thematiques",
    "stage": "etape",
    "engineering": "ingenierie",
    "holder.name": "porteur.nom",
    "holder.kind": "porteur.type",
    "contact.email": "contact.email",
    "contact.phone": "contact.telephone",
    "contact.website": "contact.site",
    "published_at": "date_publication",
    "updated_at": "date_maj",
}
"""The usual French column names of partner exports, by platform field."""


def dig(obj: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


@dataclass(frozen=True)
class Mapped:
    raw: Any
    record: PartnerRecord | None = None
    error: str | None = None
    raw_id: str | None = None
    sources: dict[str, str] | None = None
    """Where each field came from (a JSON-LD property, a label line, a column...), for ``crawler preview``."""
    warning: str | None = None
    """Something of the item that could not be kept (a CSV row longer than its header): the record is
    emitted, and the loss is counted and reported with the run (rule ``warning``)."""


def put_field(data: dict[str, Any], target: str, value: Any) -> None:
    """Set a platform field; a dotted one (``holder.name``) goes into its nested object."""
    head, _, tail = target.partition(".")
    if tail:
        data.setdefault(head, {})[tail] = value
    else:
        data[head] = value


def content_hash(record: PartnerRecord) -> str:
    return hashlib.sha256(orjson.dumps(record.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class Changes:
    upserts: list[tuple[PartnerRecord, str]]
    deletions: list[str]
    unchanged: int


def diff(previous: dict[str, str], current: list[PartnerRecord]) -> Changes:
    """What to emit given the last seen hashes (record id → hash) and a COMPLETE listing."""
    upserts, seen, unchanged = [], set(), 0
    for record in current:
        h = content_hash(record)
        seen.add(record.source_record_id)
        if previous.get(record.source_record_id) == h:
            unchanged += 1
        else:
            upserts.append((record, h))
    deletions = sorted(set(previous) - seen)
    return Changes(upserts, deletions, unchanged)


# --------------------------------------------------------------------------- incremental crawl state


@dataclass
class UrlState:
    """What the crawler knows of one URL of a partner (persisted in crawl_urls)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    status: int | None = None
    links: list[dict] = field(default_factory=list)
    """Child links found in the document: ``{"url", "kind": page|sitemap|next, "lastmod"?}``."""
    record_ids: list[str] = field(default_factory=list)
    """Records the document gave at its last successful parse."""
    body: str | None = None
    """Kept only for robots.txt (a 304 needs the rules)."""
    last_fetched: datetime | None = None


@dataclass
class RecordState:
    """What the crawler last emitted for one record (persisted in crawl_records)."""

    record_id: str
    content_hash: str
    url: str | None = None
    missing_cycles: int = 0
    deleted: bool = False


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def conditional_headers(state: UrlState | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from the validators of the last 200."""
    headers: dict[str, str] = {}
    if state is not None and state.content_hash:
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
    return headers


def record_change(previous: RecordState | None, new_hash: str) -> str:
    """'new', 'updated' or 'unchanged' for a record seen with ``new_hash``."""
    if previous is None or previous.deleted:
        return "new"
    return "unchanged" if previous.content_hash == new_hash else "updated"


def deletions_after_crawl(records: dict[str, RecordState], seen: set[str], gone: set[str], complete: bool,
                          after_missing: int) -> tuple[list[str], dict[str, int]]:
    """Which live records to delete now, and the new missing-cycle counts of the others.

    A record whose page answered 404/410 (``gone``) and that no other page gave is deleted at
    once. When the crawl was complete (every listing read), a record absent from it has its
    missing count raised, and is deleted once it reaches ``after_missing``. An incomplete crawl
    never deletes by absence.
    """
    delete, missing = set(), {}
    for rid, state in records.items():
        if state.deleted:
            continue
        if rid in seen:
            if state.missing_cycles:
                missing[rid] = 0
            continue
        if rid in gone:
            delete.add(rid)
        elif complete:
            count = state.missing_cycles + 1
            if count >= after_missing:
                delete.add(rid)
            else:
                missing[rid] = count
    return sorted(delete), missing
