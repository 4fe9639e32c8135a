"""CSV open-data exports: ``;`` or ``,``, UTF-8 with or without BOM, Latin-1 fallback."""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import ValidationError

from libs.contracts.events import PartnerRecord, describe_validation_error
from services.crawler.domain import FRENCH_FIELDS, Mapped, dig, put_field
from services.crawler.parsing.common import (
    build_record,
    coerce_field,
    decode_text,
    fill_identity,
    split_labels,
)

CSV_FIELDS: dict[str, str] = {
    **FRENCH_FIELDS,
    # flat columns where JSON exports nest objects
    "holder.name": "porteur",
    "holder.kind": "type_porteur",
    "contact.email": "email",
    "contact.phone": "telephone",
    "contact.website": "site_web",
}
"""Platform field → usual French column name; a partner's ``fields`` override these."""


EXTRA_CELLS = "\x00extra"
"""Key of a row's cells beyond the header's columns."""


def sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_rows(body: bytes, delimiter: str | None = None, encoding: str | None = None) -> list[dict[str, str]]:
    text = body.decode(encoding) if encoding else decode_text(body)
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter or sniff_delimiter(first))
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise ValueError(f"unreadable CSV header: {exc}") from None
    if not header:
        raise ValueError("empty CSV: no header line")
    rows = []
    try:
        for row in reader:
            clean = {(k or "").strip().lower(): (v.strip() if isinstance(v, str) else v)
                     for k, v in row.items() if k is not None}
            if row.get(None):  # more cells than the header: kept aside, reported (never dropped silently)
                clean[EXTRA_CELLS] = [v for v in row[None] if v and v.strip()]
            rows.append(clean)
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise ValueError(f"unreadable CSV at line {reader.line_num}: {exc}") from None
    return rows


def row_record(row: dict[str, Any], source: str, fields: dict[str, str], file_url: str | None = None) -> Mapped:
    row = dict(row)
    extra = row.pop(EXTRA_CELLS, None)
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for target, column in fields.items():
        value = coerce_field(target, row.get(column.strip().lower()))
        if value not in (None, "", []):
            sources[target] = f"column {column!r}"
        put_field(data, target, value)
    fill_identity(data, row, file_url)
    m = build_record(row, source, data)
    warning = (f"{len(extra)} cell(s) more than the header's columns, not read: {extra!r} "
               f"(an unquoted delimiter in a cell shifts the following ones)") if extra else None
    return Mapped(m.raw, m.record, m.error, m.raw_id, sources=sources, warning=warning)


def csv_records(body: bytes, source: str, fields: dict[str, str] | None = None, delimiter: str | None = None,
                encoding: str | None = None, file_url: str | None = None) -> list[Mapped]:
    """Column names are matched in any case (headers are lower-cased when read)."""
    mapping = {**CSV_FIELDS, **(fields or {})}
    return [row_record(r, source, mapping, file_url) for r in read_rows(body, delimiter, encoding)]


def map_record(raw: Any, source: str, fields: dict[str, str], file_url: str | None = None) -> Mapped:
    if not isinstance(raw, dict):
        return Mapped(raw, error=f"record must be an object, got {type(raw).__name__}")
    data: dict[str, Any] = {"source": source}
    for target, path in fields.items():
        value = dig(raw, path)
        if value is None or (value == "" and target not in ("title", "url", "source_record_id")):
            continue
        if isinstance(value, (int, float)) and target in ("source_record_id", "postcode"):
            value = str(value)
        if isinstance(value, str) and target in ("themes", "engineering"):
            value = split_labels(value)
        put_field(data, target, value)
    fill_identity(data, raw, file_url)
    raw_id = str(data.get("source_record_id")) if data.get("source_record_id") is not None else None
    try:
        return Mapped(raw, record=PartnerRecord.model_validate(data), raw_id=raw_id)
    except ValidationError as exc:
        return Mapped(raw, error=describe_validation_error(exc), raw_id=raw_id)


def map_json_export(document: Any, source: str, records_path: str, fields: dict[str, str],
                    file_url: str | None = None) -> list[Mapped]:
    records = dig(document, records_path) if records_path else document
    if not isinstance(records, list):
        raise ValueError(f"no list of records at '{records_path or '<root>'}' in the export")  # noqa: TRY004
    merged = {**FRENCH_FIELDS, **fields}
    return [map_record(raw, source, merged, file_url) for raw in records]
