"""Pure gateway logic: validate search parameters into a SearchQuery; fold text. No I/O."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from libs.contracts.search import FACET_FIELDS, fold
from libs.contracts.taxonomy import taxonomy

MAX_PER_PAGE = 100
MAX_RESULT_WINDOW = 10_000
MAX_Q_CHARS = 200
MAX_TOKENS = 12
MAX_VALUES_PER_FACET = 50
MAX_RADIUS_KM = 2000.0
EARTH_RADIUS_KM = 6371.0
"""As in the search backends' haversine."""

_PATTERNS = {
    "source": re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"),
    "region": re.compile(r"^(?:\d{2}|COM)$"),
    "departement": re.compile(r"^(?:\d{2,3}|2[AB])$"),
    "commune": re.compile(r"^(?:\d{5}|2[AB]\d{3})$"),
}
Sort = Literal["relevance", "newest", "nearest"]
STOP_WORDS = frozenset(
    "a au aux avec ce ces d dans de des du en et l la le les leur lui ma mais me mes mon ne nos notre "
    "nous on ou par pas pour qu que qui s sa se ses son sur ta te tes ton tu un une vos votre vous y".split()
)
"""Folded French stop words: ignored in queries, as the French text search configuration does."""


class QueryError(ValueError):
    """A parameter a visitor sent is not acceptable; the message says which and why."""


@dataclass(frozen=True)
class Geo:
    lat: float
    lon: float
    radius_km: float | None = None

    def bounds(self) -> tuple[float, float, float, float]:
        """Bounding box (min_lat, max_lat, min_lon, max_lon) enclosing the radius.

        Exact on the sphere the search's haversine uses (radius 6371 km), with a hair of margin
        for rounding. The longitudes span -180..180 when the circle reaches a pole or crosses
        the antimeridian (Wallis-et-Futuna, Polynésie), so the box never cuts the circle.
        """
        angle = (self.radius_km or 0.0) / EARTH_RADIUS_KM * (1 + 1e-9) + 1e-12  # radians
        dlat = math.degrees(angle)
        min_lat, max_lat = self.lat - dlat, self.lat + dlat
        if min_lat <= -90 or max_lat >= 90:
            return max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0
        dlon = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(self.lat)))))
        if self.lon - dlon < -180 or self.lon + dlon > 180:
            return min_lat, max_lat, -180.0, 180.0
        return min_lat, max_lat, self.lon - dlon, self.lon + dlon


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

    @property
    def tokens(self) -> list[str]:
        """Folded query words, French stop words left out (every remaining word must match)."""
        words = [t[:40] for t in fold(self.q).split()]
        kept = [w for w in words if w not in STOP_WORDS]
        return (kept or words)[:MAX_TOKENS]

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


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
    geo = Geo(la, lo, radius) if la is not None else None

    box = None
    if bbox:
        parts = bbox.split(",")
        if len(parts) != 4:
            raise QueryError("bbox must be min_lon,min_lat,max_lon,max_lat")
        w, s, e, n = (
            _number("bbox min_lon", parts[0], -180, 180), _number("bbox min_lat", parts[1], -90, 90),
            _number("bbox max_lon", parts[2], -180, 180), _number("bbox max_lat", parts[3], -90, 90),
        )
        if None in (w, s, e, n) or s > n or w > e:
            raise QueryError("bbox must be min_lon,min_lat,max_lon,max_lat with min <= max")
        box = BBox(w, s, e, n)

    sort = sort or ("relevance" if q else "newest")
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
    return SearchQuery(q=q, filters=parsed, geo=geo, bbox=box, sort=sort, page=page_n, per_page=per)
