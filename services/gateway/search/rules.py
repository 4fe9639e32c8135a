"""Pure gateway logic: validate search parameters into a SearchQuery; fold text. No I/O."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, cast

from libs.contracts.geo import bounding_box
from libs.contracts.search import FACET_FIELDS, fold
from libs.contracts.taxonomy import taxonomy
from services.gateway.search.relevance import query_words

MAX_PER_PAGE = 100
MAX_RESULT_WINDOW = 10_000
MAX_Q_CHARS = 200
MAX_TOKENS = 12
MAX_VALUES_PER_FACET = 50
MAX_RADIUS_KM = 2000.0

_PATTERNS = {
    "source": re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"),
    "country": re.compile(r"^[A-Z]{2}$"),
    "region": re.compile(r"^(?:\d{2}|COM)$"),
    "departement": re.compile(r"^(?:\d{2,3}|2[AB])$"),
    "commune": re.compile(r"^(?:\d{5}|2[AB]\d{3})$"),
}
Sort = Literal["relevance", "newest", "nearest"]
class QueryError(ValueError):
    """A parameter a visitor sent is not acceptable; the message says which and why."""


@dataclass(frozen=True)
class Geo:
    lat: float
    lon: float
    radius_km: float | None = None

    def bounds(self) -> tuple[float, float, float, float]:
        """Bounding box (min_lat, max_lat, min_lon, max_lon) enclosing the radius (``geo.bounding_box``)."""
        return bounding_box(self.lat, self.lon, self.radius_km or 0.0)


@dataclass(frozen=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True)
class SearchQuery:
    q: str = ""
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    geo: Geo | None = None
    bbox: BBox | None = None
    sort: Sort = "relevance"
    page: int = 1
    per_page: int = 20
    day: str = ""
    """The day (UTC, ISO) whose shuffle breaks ties between equally relevant hits ("" = today)."""

    @property
    def tokens(self) -> list[str]:
        """Folded query words that can weigh: French stop words and numbers left out (see
        ``relevance.query_words``; the backend then groups synonyms and drops noise)."""
        return query_words(self.q, MAX_TOKENS)

    @property
    def salt(self) -> str:
        """The daily shuffle's salt: the day."""
        return self.day or today()

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def cache_key(self) -> tuple:
        """What a search's result depends on, normalised: the folded query words (in order: the
        last one is a prefix), each facet's values as a set, geo, bbox, sort and page. Two
        requests with the same key get the same result from the same index."""
        return (tuple(self.tokens), tuple(sorted((k, tuple(sorted(v))) for k, v in self.filters.items() if v)),
                self.geo, self.bbox, self.sort, self.page, self.per_page, self.salt)


def _number(name: str, raw: str | float | None, lo: float, hi: float) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise QueryError(f"{name} must be a number, got {str(raw)[:40]!r}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise QueryError(f"{name} must be between {lo:g} and {hi:g}")
    return value


def _check_values(facet: str, values: list[str]) -> tuple[str, ...]:
    values = [v.strip() for v in values if v and v.strip()]
    if len(values) > MAX_VALUES_PER_FACET:
        raise QueryError(f"{facet}: at most {MAX_VALUES_PER_FACET} values")
    if facet in ("theme", "stage", "engineering", "holder_type"):
        known = taxonomy().slugs(facet)
        for v in values:
            if v not in known:
                raise QueryError(f"{facet}: unknown value {v[:60]!r}; expected one of {', '.join(sorted(known))}")
    else:
        for v in values:
            if not _PATTERNS[facet].match(v):
                raise QueryError(f"{facet}: invalid value {v[:60]!r}")
    return tuple(dict.fromkeys(values))


def parse_search(
    *,
    q: str | None = None,
    filters: dict[str, list[str]] | None = None,
    lat: str | float | None = None,
    lon: str | float | None = None,
    radius_km: str | float | None = None,
    bbox: str | None = None,
    sort: str | None = None,
    page: int | str | None = 1,
    per_page: int | str | None = 20,
    day: str | None = None,
) -> SearchQuery:
    q = (q or "").strip()
    if len(q) > MAX_Q_CHARS:
        raise QueryError(f"q: at most {MAX_Q_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in q):
        raise QueryError("q: control characters are not allowed")
    parsed: dict[str, tuple[str, ...]] = {}
    for facet, values in (filters or {}).items():
        if facet not in FACET_FIELDS:
            raise QueryError(f"unknown filter {facet!r}")
        checked = _check_values(facet, values)
        if checked:
            parsed[facet] = checked

    la, lo = _number("lat", lat, -90, 90), _number("lon", lon, -180, 180)
    radius = _number("radius_km", radius_km, 0.001, MAX_RADIUS_KM)
    if (la is None) != (lo is None):
        raise QueryError("lat and lon go together")
    if radius is not None and la is None:
        raise QueryError("radius_km needs lat and lon")
    geo = Geo(la, lo, radius) if la is not None and lo is not None else None

    box = None
    if bbox:
        parts = bbox.split(",")
        if len(parts) != 4:
            raise QueryError("bbox must be min_lon,min_lat,max_lon,max_lat")
        w, s, e, n = (
            _number("bbox min_lon", parts[0], -180, 180), _number("bbox min_lat", parts[1], -90, 90),
            _number("bbox max_lon", parts[2], -180, 180), _number("bbox max_lat", parts[3], -90, 90),
        )
        if w is None or s is None or e is None or n is None or s > n or w > e:
            raise QueryError("bbox must be min_lon,min_lat,max_lon,max_lat with min <= max")
        box = BBox(w, s, e, n)

    sort = sort or "relevance"  # without words too: equally relevant hits in the fair daily order
    if sort not in ("relevance", "newest", "nearest"):
        raise QueryError("sort must be relevance, newest or nearest")
    if sort == "nearest" and geo is None:
        raise QueryError("sort=nearest needs lat and lon")

    try:
        page_n = int(page if page not in (None, "") else 1)
        per = int(per_page if per_page not in (None, "") else 20)
    except (TypeError, ValueError, OverflowError):
        raise QueryError("page and per_page must be whole numbers") from None
    if page_n < 1:
        raise QueryError("page must be >= 1")
    if not 1 <= per <= MAX_PER_PAGE:
        raise QueryError(f"per_page must be between 1 and {MAX_PER_PAGE}")
    if page_n * per > MAX_RESULT_WINDOW:
        raise QueryError(f"page * per_page must not exceed {MAX_RESULT_WINDOW}; narrow the search instead")
    return SearchQuery(q=q, filters=parsed, geo=geo, bbox=box, sort=cast(Sort, sort), page=page_n, per_page=per,
                       day=day or "")


def today() -> str:
    """The current UTC day, ISO: the daily shuffle changes at midnight UTC."""
    return datetime.now(UTC).date().isoformat()


# --------------------------------------------------------------------------- highlighting

SNIPPET_WORDS = 30
_WORD = re.compile(r"\w+", re.UNICODE)


_fold_word = lru_cache(maxsize=100_000)(fold)
"""``fold`` of one word of a text being highlighted: texts repeat their words, folding is the cost."""


def _marks(text: str, tokens: list[str]) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` whose folded form starts with a query word."""
    if not tokens:
        return []
    spans = []
    for m in _WORD.finditer(text):
        word = _fold_word(m.group())
        if word and any(word.startswith(t) for t in tokens if len(t) >= 2 or word == t):
            spans.append(m.span())
    return spans


def _render(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    """``text[start:end]`` HTML-escaped, with each span wrapped in <mark>. Partner text is never trusted."""
    from markupsafe import escape

    end = len(text) if end is None else end
    out, pos = [], start
    for a, b in spans:
        if a < start or b > end:
            continue
        out += [str(escape(text[pos:a])), "<mark>", str(escape(text[a:b])), "</mark>"]
        pos = b
    out.append(str(escape(text[pos:end])))
    return "".join(out)


def highlight(title: str, body: str, tokens: list[str], words: int = SNIPPET_WORDS) -> dict[str, str]:
    """Escaped HTML with the query words in <mark>: the whole title, and a snippet of ``words``
    words of the body around its first match (its beginning when nothing matches there)."""
    title = title or ""
    body = " ".join((body or "").split())
    title_html = _render(title, _marks(title, tokens))
    spans = _marks(body, tokens)
    positions = [m.span() for m in _WORD.finditer(body)]
    if not positions:
        return {"title": title_html, "snippet": ""}
    first = 0
    if spans:
        first = next(i for i, p in enumerate(positions) if p[0] == spans[0][0])
    lo = max(0, first - words // 3)
    hi = min(len(positions), lo + words)
    lo = max(0, hi - words)
    start = 0 if lo == 0 else positions[lo][0]
    end = len(body) if hi == len(positions) else positions[hi - 1][1]
    snippet = _render(body, spans, start, end)
    return {"title": title_html, "snippet": ("… " if start > 0 else "") + snippet + (" …" if end < len(body) else "")}


@lru_cache(maxsize=5_000)  # keeps its texts alive: ~8 MB at 1.5 kB a project
def highlight_hit(title: str, summary: str, description: str, tokens: tuple[str, ...]) -> dict[str, str]:
    """A hit's ``highlight``: the title, and a snippet of the summary (of the description when
    the words are only there). Memoised: the same projects come back for the same words, page
    after page and facet after facet; callers must not change what they get."""
    out = highlight(title, summary or description, list(tokens))
    if tokens and "<mark>" not in out["snippet"] and description and description != summary:
        other = highlight("", description, list(tokens))  # the words are in the description: show them there
        if "<mark>" in other["snippet"]:
            out["snippet"] = other["snippet"]
    return out


# --------------------------------------------------------------------------- map

MIN_ZOOM, MAX_ZOOM = 0, 20
CLUSTER_PX = 60
"""A cluster covers about this many screen pixels (256-pixel Web-Mercator tiles)."""
MAX_CELLS = 4096


def parse_zoom(raw: str | int | None) -> int:
    if raw is None or raw == "":
        raise QueryError("zoom is required (0 to 20)")
    try:
        zoom = int(raw)
    except (TypeError, ValueError):
        raise QueryError(f"zoom must be a whole number, got {str(raw)[:20]!r}") from None
    if not MIN_ZOOM <= zoom <= MAX_ZOOM:
        raise QueryError("zoom must be between 0 and 20")
    return zoom


def cluster_cell(zoom: int, bbox: BBox | None = None) -> float:
    """Grid cell (degrees) for a zoom: about CLUSTER_PX pixels, widened so a bbox never holds
    more than MAX_CELLS cells (bounded answers whatever the client asks)."""
    cell = 360.0 / (2 ** zoom) * CLUSTER_PX / 256
    if bbox is not None:
        area = max(bbox.max_lon - bbox.min_lon, 1e-9) * max(bbox.max_lat - bbox.min_lat, 1e-9)
        cell = max(cell, math.sqrt(area / MAX_CELLS))
    return cell


def grid_clusters(points: list[dict], cell: float) -> list[dict]:
    """Pure grid clustering (what the PostgreSQL reader does in SQL): points are dicts with
    id, title, commune_name, lat, lon."""
    cells: dict[tuple[int, int], list[dict]] = {}
    for p in points:
        if p.get("lat") is None or p.get("lon") is None:
            continue
        cells.setdefault((math.floor(p["lon"] / cell), math.floor(p["lat"] / cell)), []).append(p)
    out = []
    for members in cells.values():
        n = len(members)
        c = {"count": n, "lat": sum(m["lat"] for m in members) / n, "lon": sum(m["lon"] for m in members) / n}
        if n == 1:
            c.update(id=members[0]["id"], title=members[0].get("title"), commune_name=members[0].get("commune_name"))
        else:
            c["id"] = min(m["id"] for m in members)
        out.append(c)
    out.sort(key=lambda c: (-c["count"], c["id"]))
    for c in out:
        if c["count"] > 1:
            del c["id"]
    return out


def geojson_clusters(clusters: list[dict]) -> dict:
    features = []
    for c in clusters:
        props = {"count": c["count"], "cluster": c["count"] > 1}
        if c["count"] == 1:
            props.update(id=c["id"], title=c.get("title"), commune_name=c.get("commune_name"),
                         url=f"/projets/{c['id']}")
        features.append({"type": "Feature", "geometry": {"type": "Point",
                                                          "coordinates": [round(c["lon"], 6), round(c["lat"], 6)]},
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}


# --------------------------------------------------------------------------- export

EXPORT_FORMATS = ("csv", "json", "geojson")
MAX_EXPORT = 50_000
EXPORT_COLUMNS = ("id", "title", "summary", "url", "themes", "stage", "engineering", "holder_name", "holder_type",
                  "commune", "commune_name", "postcode", "departement", "departement_name", "region", "region_name",
                  "lat", "lon", "first_seen", "updated_at", "page", "sources", "source_urls", "licences",
                  "attribution")


def export_row(doc: dict, partners: dict[str, dict], base_url: str = "") -> dict:
    """One exported project, with the licence and attribution of every source that published it."""
    sources = doc.get("sources") or [{"partner": s} for s in doc.get("source") or []]
    slugs = list(dict.fromkeys(s.get("partner") for s in sources if s.get("partner")))
    licences = [partners.get(s, {}).get("licence") or "licence non précisée" for s in slugs]
    names = [partners.get(s, {}).get("name") or s for s in slugs]
    return {
        "id": doc.get("id"), "title": doc.get("title"), "summary": doc.get("summary"), "url": doc.get("url"),
        "themes": doc.get("theme") or [], "stage": doc.get("stage"), "engineering": doc.get("engineering") or [],
        "holder_name": doc.get("holder_name"), "holder_type": doc.get("holder_type"),
        "commune": doc.get("commune"), "commune_name": doc.get("commune_name"), "postcode": doc.get("postcode"),
        "departement": doc.get("departement"), "departement_name": doc.get("departement_name"),
        "region": doc.get("region"), "region_name": doc.get("region_name"),
        "lat": doc.get("lat"), "lon": doc.get("lon"),
        "first_seen": doc.get("first_seen"), "updated_at": doc.get("updated_at"),
        "page": f"{base_url}/projets/{doc.get('id')}",
        "sources": slugs, "source_urls": [s.get("url") for s in sources if s.get("url")],
        "licences": licences,
        "attribution": "; ".join(f"{n} ({lic})" for n, lic in zip(names, licences)),
    }


def csv_cell(value) -> str:
    """A CSV cell: lists joined with ' | '; a leading = + - @ is defused (spreadsheet formulas)."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = " | ".join(str(v) for v in value if v is not None)
    value = str(value)
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.match(value):
        value = "'" + value
    return value


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def suggest_terms(prefix: str, limit: int = 4) -> list[dict]:
    """Taxonomy terms (themes first) whose folded label contains the folded prefix."""
    words = fold(prefix).split()
    if not words:
        return []
    out = []
    for facet in ("theme", "stage", "engineering", "holder_type"):
        for term in taxonomy().terms(facet):
            label = fold(term.label)
            if all(any(w.startswith(x) for w in label.split()) for x in words):
                out.append({"facet": facet, "value": term.slug, "label": term.label})
    return out[:limit]
