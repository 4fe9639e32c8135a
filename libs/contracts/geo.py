"""Distances and boxes on the sphere, written once for every service (pure; no I/O).

The search backends (PostgreSQL's SQL, the gateway's in-memory candidates, Meilisearch's distance
fix-up), the geocoder's sanity checks, the dedup scores and matchmaking all measure on the same
sphere of radius 6,371 km with the haversine formula, so that a distance shown, filtered and
sorted on is one number everywhere.
"""

from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_KM = 6371.0
"""Mean Earth radius, as in the SQL ``2 * 6371 * asin(...)`` of the search."""
RADIANS = 0.0174532925199432957692
"""Degrees → radians as PostgreSQL's ``radians()`` computes it (``x * RADIANS_PER_DEGREE``), for
results identical to the SQL to the last bit."""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def distance_km(lat1: float | None, lon1: float | None, lat2: float | None, lon2: float | None) -> float | None:
    """:func:`haversine_km`, or None when a coordinate is unknown."""
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    return haversine_km(lat1, lon1, lat2, lon2)


def haversine_km_array(lat: np.ndarray, lon: np.ndarray, glat: float, glon: float) -> np.ndarray:
    """Distances in km from (``glat``, ``glon``) to every point of the arrays, written as the SQL
    search writes it (NaN where a coordinate is NaN)."""
    a = np.sin((lat - glat) * RADIANS / 2) ** 2 + math.cos(glat * RADIANS) * np.cos(lat * RADIANS) \
        * np.sin((lon - glon) * RADIANS / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def bounding_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) enclosing every point within ``radius_km`` of the centre.

    Exact on the sphere of :func:`haversine_km`, with a hair of margin for rounding. The
    longitudes span -180..180 when the circle reaches a pole or crosses the antimeridian
    (Wallis-et-Futuna, Polynésie), so the box never cuts the circle.
    """
    angle = max(radius_km, 0.0) / EARTH_RADIUS_KM * (1 + 1e-9) + 1e-12  # radians
    dlat = math.degrees(angle)
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90 or max_lat >= 90:
        return max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0
    dlon = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(lat)))))
    if lon - dlon < -180 or lon + dlon > 180:
        return min_lat, max_lat, -180.0, 180.0
    return min_lat, max_lat, lon - dlon, lon + dlon


def in_box(lat: float, lon: float, box: tuple[float, float, float, float]) -> bool:
    """Whether the point lies in a (min_lat, max_lat, min_lon, max_lon) box."""
    min_lat, max_lat, min_lon, max_lon = box
    return min_lat <= lat <= max_lat and min_lon <= lon <= max_lon


def haversine_sql(lat: str = "lat", lon: str = "lon", glat: str = ":glat", glon: str = ":glon") -> str:
    """The same distance as a PostgreSQL expression (columns ``lat``/``lon``, bound parameters
    ``:glat``/``:glon`` by default), for the search and matchmaking queries."""
    return (f"(2 * {EARTH_RADIUS_KM:g} * asin(sqrt(power(sin(radians({lat} - {glat}) / 2), 2) + cos(radians({glat})) * "
            f"cos(radians({lat})) * power(sin(radians({lon} - {glon}) / 2), 2))))")
