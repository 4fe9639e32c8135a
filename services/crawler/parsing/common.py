"""Helpers shared by the parsers: decoding, HTML to text, record ids, dates, record validation."""

from __future__ import annotations

import codecs
import hashlib
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urldefrag, urlsplit

import orjson
from pydantic import ValidationError

from libs.contracts.events import PartnerRecord, describe_validation_error
from libs.contracts.text import BLOCKS, LABEL_CELLS, element_text, html_to_text  # noqa: F401 — used by the parsers
from services.crawler.domain import Mapped


def decode_text(body: bytes, charset: str | None = None) -> str:
    """UTF-8 (with or without BOM) first, then the declared charset, then Latin-1 (never fails)."""
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if charset:
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return body.decode("cp1252")  # Windows Latin-1: what French spreadsheets export
    except UnicodeDecodeError:
        return body.decode("latin-1")


def clean_url(url: str) -> str:
    return urldefrag(url.strip())[0]


def record_id_for_url(url: str) -> str:
    """A stable record id from a page URL: its path and query (hashed when longer than 200)."""
    parts = urlsplit(clean_url(url))
    rid = parts.path.rstrip("/") or "/"
    if parts.query:
        rid += "?" + parts.query
    return rid if len(rid) <= 200 else "sha256:" + hashlib.sha256(rid.encode()).hexdigest()


def to_date(value: Any) -> str | None:
    """ISO date (YYYY-MM-DD) from a date, datetime or string starting with one; None otherwise."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        m = re.match(r"\s*(\d{4}-\d{2}-\d{2})", value)
        if m:
            try:
                return date.fromisoformat(m.group(1)).isoformat()
            except ValueError:
                return None
        m = re.match(r"\s*(\d{2})/(\d{2})/(\d{4})", value)  # French dd/mm/yyyy
        if m:
            try:
                return date(int(m.group(3)), int(m.group(2)), int(m.group(1))).isoformat()
            except ValueError:
                return None
    return None


def to_float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "."))
        except ValueError:
            return None
    return None


LABEL_SEPARATORS = re.compile(r"\s*[;,|]\s*|\s+/\s+|(?<=\w)/(?=\w)")
"""Between theme labels: ``;`` ``,`` ``|`` and ``/`` (``Habitat / Vieillissement``)."""


def split_labels(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in LABEL_SEPARATORS.split(value) if v.strip()]
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for v in value:
            out.extend(split_labels(v) if isinstance(v, str) else [])
        return out
    return []


COERCED_FIELDS = frozenset({"lat", "lon", "themes", "engineering", "published_at", "updated_at"})


def coerce_field(target: str, value: Any) -> Any:
    """Numbers, label lists and dates as partners write them → what the record expects."""
    if target in ("lat", "lon"):
        return to_float(value)
    if target in ("themes", "engineering"):
        return split_labels(value)
    if target in ("published_at", "updated_at"):
        return to_date(value)
    return value


def build_record(raw: Any, source: str, data: dict[str, Any]) -> Mapped:
    """Validate platform fields into a PartnerRecord; drops empty optional values first."""
    clean: dict[str, Any] = {"source": source}
    for key, value in data.items():
        if value in (None, "", [], {}) and key not in ("title", "url", "source_record_id"):
            continue
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if v not in (None, "")}
            if not value:
                continue
        clean[key] = value
    if clean.get("lat") is None or clean.get("lon") is None:
        clean.pop("lat", None), clean.pop("lon", None)
    raw_id = str(clean["source_record_id"]) if clean.get("source_record_id") is not None else None
    try:
        return Mapped(raw, record=PartnerRecord.model_validate(clean), raw_id=raw_id)
    except ValidationError as exc:
        return Mapped(raw, error=describe_validation_error(exc), raw_id=raw_id)


def fill_identity(data: dict[str, Any], raw: dict[str, Any], file_url: str | None) -> None:
    """A row of an export without an id or a URL: an id from a hash of its content, and the
    export's URL with the id as fragment (stable while the row is unchanged / the id is kept)."""
    rid = data.get("source_record_id")
    if rid in (None, ""):
        content = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=str)
        rid = data["source_record_id"] = "sha256:" + hashlib.sha256(content).hexdigest()[:32]
    if data.get("url") in (None, "") and file_url:
        data["url"] = f"{clean_url(file_url)}#{quote(str(rid), safe='')}"


def truncate(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
