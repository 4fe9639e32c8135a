"""Unit tests for the gateway's pure logic (services/gateway/search/rules.py): search parameter validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.contracts.search import FACET_FIELDS
from services.gateway.search.rules import BBox, Geo, QueryError, SearchQuery, parse_search
from services.geocoder.domain import haversine_km


def rejects(match: str, **params) -> str:
    with pytest.raises(QueryError) as info:
        parse_search(**params)
    assert match in str(info.value)
    return str(info.value)


# --------------------------------------------------------------------------- defaults


def test_defaults() -> None:
    q = parse_search()
    assert q == SearchQuery(q="", filters={}, geo=None, bbox=None, sort="relevance", page=1, per_page=20)
    assert q.tokens == [] and q.offset == 0


def test_all_empty_strings_are_defaults() -> None:
    q = parse_search(q="  ", lat="", lon="", radius_km="", bbox="", sort="", page="", per_page="")
    assert q == parse_search()
    assert parse_search(page=None, per_page=None) == parse_search()


def test_sort_defaults_to_relevance_with_q() -> None:
    q = parse_search(q="  Zéro Déchet !  ")
    assert q.sort == "relevance" and q.q == "Zéro Déchet !"
    assert q.tokens == ["zero", "dechet"]
    assert parse_search(q="x", sort="newest").sort == "newest"


def test_tokens_are_bounded() -> None:
    q = parse_search(q=" ".join(f"mot{i}" for i in range(20)) + " " + "a" * 60)
    assert len(q.tokens) == 12 and q.tokens[0] == "mot0"
    assert parse_search(q="b" * 60).tokens == ["b" * 40]


def test_paging() -> None:
    q = parse_search(page="3", per_page="50")
    assert (q.page, q.per_page, q.offset) == (3, 50, 100)
    assert parse_search(page=100, per_page=100).offset == 9900  # exactly the window


# --------------------------------------------------------------------------- q


def test_q_too_long() -> None:
    assert parse_search(q="a" * 200).q == "a" * 200
    rejects("q: at most 200", q="a" * 201)


@pytest.mark.parametrize("q", ["a\x00b", "a\x1bb", "ligne\nsuivante", "tab\tici"])
def test_q_control_characters(q: str) -> None:
    rejects("q: control characters", q=q)


# --------------------------------------------------------------------------- filters


def test_valid_filters_and_duplicates_removed() -> None:
    q = parse_search(filters={
        "theme": ["sante", "alimentation", "sante", " sante "],
        "stage": ["idee"], "engineering": ["numerique"], "holder_type": ["association"],
        "source": ["avise", "la-fonda", "avise"], "region": ["32", "COM"],
        "departement": ["2A", "971", "01", "59", "2A"], "commune": ["59512", "2A004"],
    })
    assert q.filters == {
        "theme": ("sante", "alimentation"), "stage": ("idee",), "engineering": ("numerique",),
        "holder_type": ("association",), "source": ("avise", "la-fonda"), "region": ("32", "COM"),
        "departement": ("2A", "971", "01", "59"), "commune": ("59512", "2A004"),
    }


def test_empty_filter_values_are_dropped() -> None:
    assert parse_search(filters={"theme": ["", "  "], "source": []}).filters == {}


@pytest.mark.parametrize(
    ("facet", "value"),
    [("theme", "zero-dechet"), ("theme", "Santé"), ("stage", "fini"), ("holder_type", "mairie"), ("engineering", "x")],
)
def test_unknown_taxonomy_slug(facet: str, value: str) -> None:
    msg = rejects(f"{facet}: unknown value {value!r}", filters={facet: [value]})
    assert "expected one of" in msg


@pytest.mark.parametrize(
    ("facet", "value"),
    [("departement", "999x"), ("departement", "2C"), ("departement", "1"), ("departement", "9999"),
     ("commune", "5951"), ("commune", "59512a"), ("commune", "2C004"), ("commune", "abcde"),
     ("region", "3"), ("region", "com"), ("source", "La Fonda"), ("source", "-x"), ("source", "a_b")],
)
def test_bad_codes(facet: str, value: str) -> None:
    rejects(f"{facet}: invalid value {value!r}", filters={facet: [value]})


def test_unknown_filter_and_too_many_values() -> None:
    rejects("unknown filter 'colour'", filters={"colour": ["bleu"]})
    assert len(parse_search(filters={"commune": [f"{59000 + i}" for i in range(50)]}).filters["commune"]) == 50
    rejects("commune: at most 50 values", filters={"commune": [f"{59000 + i}" for i in range(51)]})


# --------------------------------------------------------------------------- geo


def test_geo_parsed_from_strings() -> None:
    q = parse_search(lat="50.69", lon="3.18", radius_km="25")
    assert q.geo == Geo(50.69, 3.18, 25.0)
    assert parse_search(lat=50.69, lon=3.18).geo == Geo(50.69, 3.18, None)


def test_lat_without_lon_and_radius_without_point() -> None:
    rejects("lat and lon go together", lat="50")
    rejects("lat and lon go together", lon="3")
    rejects("radius_km needs lat and lon", radius_km="10")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (dict(lat="91", lon="0"), "lat must be between -90 and 90"),
        (dict(lat="0", lon="-180.5"), "lon must be between -180 and 180"),
        (dict(lat="nan", lon="0"), "lat must be between"),
        (dict(lat="0", lon="inf"), "lon must be between"),
        (dict(lat="1e400", lon="0"), "lat must be between"),
        (dict(lat="abc", lon="0"), "lat must be a number, got 'abc'"),
        (dict(lat="0", lon="0", radius_km="0"), "radius_km must be between 0.001 and 2000"),
        (dict(lat="0", lon="0", radius_km="2000.1"), "radius_km must be between"),
        (dict(lat="0", lon="0", radius_km="-5"), "radius_km must be between"),
        (dict(lat="0", lon="0", radius_km="NaN"), "radius_km must be between"),
        (dict(lat="0", lon="0", radius_km="-inf"), "radius_km must be between"),
        (dict(lat="0", lon="0", radius_km="dix"), "radius_km must be a number"),
    ],
)
def test_bad_geo_numbers(params: dict, name: str) -> None:
    rejects(name, **params)


def test_radius_bounds_are_inclusive() -> None:
    assert parse_search(lat="0", lon="0", radius_km="2000").geo.radius_km == 2000.0
    assert parse_search(lat="0", lon="0", radius_km="0.001").geo.radius_km == 0.001


def test_bbox() -> None:
    assert parse_search(bbox="2.2,48.8,2.5,48.9").bbox == BBox(2.2, 48.8, 2.5, 48.9)
    assert parse_search(bbox="-180,-90,180,90").bbox == BBox(-180, -90, 180, 90)


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ("2.2,48.8,2.5", "bbox must be min_lon,min_lat,max_lon,max_lat"),
        ("1,2,3,4,5", "bbox must be min_lon,min_lat,max_lon,max_lat"),
        ("2.5,48.8,2.2,48.9", "with min <= max"),
        ("2.2,48.9,2.5,48.8", "with min <= max"),
        ("2.2,,2.5,48.9", "with min <= max"),
        ("-181,48.8,2.5,48.9", "bbox min_lon must be between -180 and 180"),
        ("2.2,-91,2.5,48.9", "bbox min_lat must be between -90 and 90"),
        ("2.2,48.8,2.5,95", "bbox max_lat must be between"),
        ("2.2,48.8,nan,48.9", "bbox max_lon must be between"),
        ("a,b,c,d", "bbox min_lon must be a number"),
    ],
)
def test_bad_bbox(bbox: str, message: str) -> None:
    rejects(message, bbox=bbox)


# --------------------------------------------------------------------------- sort / paging


def test_sort() -> None:
    assert parse_search(sort="nearest", lat="50", lon="3").sort == "nearest"
    rejects("sort=nearest needs lat and lon", sort="nearest")
    rejects("sort must be relevance, newest or nearest", sort="oldest")
    rejects("sort must be", sort="Relevance")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(page=0), "page must be >= 1"),
        (dict(page="-1"), "page must be >= 1"),
        (dict(per_page=0), "per_page must be between 1 and 100"),
        (dict(per_page="101"), "per_page must be between 1 and 100"),
        (dict(page="101", per_page="100"), "page * per_page must not exceed 10000"),
        (dict(page=10_001, per_page=1), "page * per_page must not exceed 10000"),
        (dict(page="deux"), "page and per_page must be whole numbers"),
        (dict(page="1.5"), "page and per_page must be whole numbers"),
        (dict(per_page="20abc"), "page and per_page must be whole numbers"),
        (dict(page="9" * 5000), "page and per_page must be whole numbers"),
    ],
)
def test_bad_paging(params: dict, message: str) -> None:
    rejects(message, **params)


# --------------------------------------------------------------------------- Geo.bounds


def _destination(lat: float, lon: float, bearing: float, km: float) -> tuple[float, float]:
    p1, l1, b, a = math.radians(lat), math.radians(lon), math.radians(bearing), km / 6371.0
    p2 = math.asin(math.sin(p1) * math.cos(a) + math.cos(p1) * math.sin(a) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(a) * math.cos(p1), math.cos(a) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


@pytest.mark.parametrize(
    ("lat", "lon", "radius"),
    [
        (48.8566, 2.3522, 10), (48.8566, 2.3522, 500), (48.8566, 2.3522, 2000), (0, 0, 100), (45, 0, 2000),
        (-12.92, 45.15, 50), (5.0, -52.3, 300), (-13.28, -176.17, 500), (-17.55, -149.56, 1500), (85, 10, 600),
        (-89, 0, 100), (70, 25, 1000),
    ],
)
def test_bounds_contain_the_circle(lat: float, lon: float, radius: float) -> None:
    geo = parse_search(lat=lat, lon=lon, radius_km=radius).geo
    min_lat, max_lat, min_lon, max_lon = geo.bounds()
    assert -90 <= min_lat < lat < max_lat <= 90
    assert -180 <= min_lon < lon < max_lon <= 180
    for step in range(720):
        p, q = _destination(lat, lon, step / 2, radius)
        assert haversine_km(lat, lon, p, q) == pytest.approx(radius, rel=1e-6)
        assert min_lat <= p <= max_lat and min_lon <= q <= max_lon, (step / 2, p, q)


def test_bounds_are_tight_away_from_poles_and_antimeridian() -> None:
    min_lat, max_lat, min_lon, max_lon = Geo(48.8566, 2.3522, 100).bounds()
    assert max_lat - min_lat == pytest.approx(2 * 100 / 111.195, rel=1e-3)
    assert max_lon - min_lon == pytest.approx(2 * 100 / (111.195 * math.cos(math.radians(48.8566))), rel=1e-2)


def test_bounds_without_radius_is_the_point() -> None:
    min_lat, max_lat, min_lon, max_lon = Geo(48.0, 2.0).bounds()
    assert (min_lat, max_lat, min_lon, max_lon) == pytest.approx((48.0, 48.0, 2.0, 2.0))


# --------------------------------------------------------------------------- property


texts = st.none() | st.text(max_size=30) | st.sampled_from(["", "0", "1", "-1", "nan", "inf", "1e400", "50.5", "2000", "101"])


@settings(max_examples=300, deadline=None, database=None)
@given(
    q=st.none() | st.text(max_size=250),
    filters=st.none() | st.dictionaries(st.sampled_from([*FACET_FIELDS, "x"]), st.lists(st.text(max_size=8), max_size=4),
                                        max_size=3),
    lat=texts, lon=texts, radius_km=texts,
    bbox=st.none() | st.text(max_size=30) | st.lists(texts.filter(lambda v: v is not None), min_size=3, max_size=5).map(",".join),
    sort=st.none() | st.text(max_size=10) | st.sampled_from(["relevance", "newest", "nearest"]),
    page=texts, per_page=texts,
)
def test_parse_search_returns_query_or_query_error(q, filters, lat, lon, radius_km, bbox, sort, page, per_page) -> None:
    try:
        result = parse_search(q=q, filters=filters, lat=lat, lon=lon, radius_km=radius_km, bbox=bbox, sort=sort,
                              page=page, per_page=per_page)
    except QueryError as exc:
        assert str(exc)
        return
    assert isinstance(result, SearchQuery)
    assert 1 <= result.per_page <= 100 and result.page >= 1 and result.page * result.per_page <= 10_000
    assert result.sort in ("relevance", "newest", "nearest")
    assert len(result.q) <= 200
    if result.geo is not None:
        assert math.isfinite(result.geo.lat) and math.isfinite(result.geo.lon)
