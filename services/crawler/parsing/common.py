"""Helpers shared by the parsers: decoding, HTML to text, record ids, dates, record validation."""

from __future__ import annotations

import codecs
import hashlib
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urldefrag, urlsplit

import orjson
from lxml import html as lxml_html
from pydantic import ValidationError

from libs.contracts.events import PartnerRecord, describe_validation_error
from services.crawler.domain import Mapped

_WS = re.compile(r"\s+")


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


BLOCKS = frozenset({"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "section", "article", "main",
                    "header", "footer", "nav", "aside", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
                    "figure", "figcaption", "address", "form", "fieldset", "br", "hr", "td", "th"})
LABEL_CELLS = frozenset({"dt", "th"})
"""Cells that label the next one (``<dt>Commune</dt><dd>Ambert</dd>``): written ``Commune : Ambert``."""


def html_to_text(fragment: str | None, lines: bool = False) -> str | None:
    """Visible text of an HTML fragment, white space collapsed; markup is never passed downstream.

    ``lines``: one line per block element (paragraph, list item, table row, ``<br>``), a label
    cell (``dt``, ``th``) joined to its value as ``label : value`` — what "Label : value"
    extraction reads.
    """
    if fragment is None:
        return None
    if "<" not in fragment and "&" not in fragment:
        return _lines(fragment) if lines else _WS.sub(" ", fragment).strip()
    try:
        doc = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except Exception:  # noqa: BLE001 — lxml raises several types on broken markup
        return _WS.sub(" ", re.sub(r"<[^>]*>", " ", fragment)).strip()
    return element_text(doc, lines)


def element_text(element, lines: bool = False) -> str:
    """The text of a parsed lxml element (see ``html_to_text``)."""
    for bad in element.xpath(".//script|.//style|.//noscript|.//template"):
        bad.drop_tree()
    if not lines:
        return _WS.sub(" ", element.text_content()).strip()
    parts: list[str] = []

    def walk(node) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        block = tag in BLOCKS and tag not in ("td", "dd")  # a value cell stays on its label's line
        if block:
            parts.append("\n")
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if tag in LABEL_CELLS:
            parts.append(" : ")
        elif tag in ("td", "dd"):
            parts.append(" ")
        elif block:
            parts.append("\n")

    walk(element)
    return _lines("".join(parts))


def _lines(text: str) -> str:
    out = []
    for line in text.splitlines():
        line = _WS.sub(" ", line).strip()
        line = re.sub(r"\s*:\s*:\s*", " : ", line).removesuffix(" :").rstrip()  # a label cell whose text already ends with a colon
        if line:
            out.append(line)
    return "\n".join(out)


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
