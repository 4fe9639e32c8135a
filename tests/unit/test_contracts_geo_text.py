"""The shared geo and text helpers (libs/contracts/geo.py, libs/contracts/text.py)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from libs.contracts.geo import bounding_box, distance_km, haversine_km, haversine_km_array, in_box
from libs.contracts.text import fold, html_to_text


def test_known_distances():
    assert 391 < haversine_km(48.8566, 2.3522, 45.7640, 4.8357) < 392  # Paris – Lyon
    assert haversine_km(50.63, 3.06, 50.63, 3.06) == 0
    assert distance_km(None, 3.0, 50.0, 3.0) is None
    assert math.isclose(haversine_km(0, 0, 0, 180), math.pi * 6371.0)


def test_array_distances_match_the_scalar_ones():
    lat, lon = np.array([45.76, 43.3, np.nan]), np.array([4.84, 5.37, 1.0])
    got = haversine_km_array(lat, lon, 48.8566, 2.3522)
    assert np.allclose(got[:2], [haversine_km(48.8566, 2.3522, a, b) for a, b in zip(lat[:2], lon[:2])], rtol=1e-12)
    assert math.isnan(got[2])


def _destination(lat, lon, bearing, km):
    d, b = km / 6371.0, math.radians(bearing)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


@given(st.floats(-89, 89), st.floats(-180, 180), st.floats(0.01, 2000), st.floats(0, 360))
def test_bounding_box_holds_the_whole_circle(lat, lon, km, bearing):
    box = bounding_box(lat, lon, km)
    plat, plon = _destination(lat, lon, bearing, km * 0.999999)
    assert in_box(plat, plon, box), (box, plat, plon)


def test_bounding_box_is_tight_away_from_poles_and_antimeridian():
    min_lat, max_lat, min_lon, max_lon = bounding_box(45.0, 4.0, 100.0)
    assert math.isclose(haversine_km(45.0, 4.0, max_lat, 4.0), 100.0, rel_tol=1e-6)
    assert (min_lon, max_lon) != (-180.0, 180.0) and max_lon - min_lon < 3
    assert bounding_box(-13.3, -176.2, 500)[2:] == (-180.0, 180.0)  # Wallis-et-Futuna: across the antimeridian


def test_fold():
    assert fold("Zéro Déchet !") == "zero dechet"
    assert fold("L’Haÿ-les-Roses — Œuvre") == "l hay les roses oeuvre"
    assert fold("Москва") == "moskva"


def test_html_to_text_lines_labels_and_dropped_quotes():
    html = "<div><p>Bonjour,</p><dl><dt>Commune</dt><dd>Ambert</dd></dl><script>x()</script>" \
           "<blockquote>ancien message</blockquote></div>"
    assert html_to_text(html, lines=True) == "Bonjour,\nCommune : Ambert\nancien message"
    assert html_to_text(html, lines=True, drop=("blockquote",)) == "Bonjour,\nCommune : Ambert"
    assert html_to_text("a &amp; <b>b</b>") == "a & b"
    assert html_to_text(None) is None


def test_commune_reference_loads_every_row_with_one_coordinates_rule(tmp_path):
    import gzip
    import shutil

    import pytest

    from libs.contracts.communes import DATA_DIR, HEADER, load_reference

    communes, departements, regions = load_reference()
    assert len(communes) > 34_000 and len(departements) >= 101 and len(regions) >= 18
    lyon = next(c for c in communes if c.code == "69123")
    assert (lyon.name, lyon.departement_name, lyon.precision) == ("Lyon", "Rhône", "commune")
    assert {c.precision for c in communes} <= {"commune", "departement", "none"}
    for c in communes:
        if c.precision == "departement":
            assert (c.lat, c.lon) == (departements[c.departement].lat, departements[c.departement].lon)
    for name in ("regions.csv", "departements.csv"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    with gzip.open(tmp_path / "communes.csv.gz", "wt", encoding="utf-8") as f:
        f.write(",".join(HEADER) + "\n01001,COM,,Ici,01400,01,84,10,,,commune,metro\n")
    [one], _, _ = load_reference(tmp_path)
    assert one.precision == "departement" and one.lat == departements["01"].lat  # no outline: the département's centroid
    with gzip.open(tmp_path / "communes.csv.gz", "wt", encoding="utf-8") as f:
        f.write("code,name\n")
    with pytest.raises(ValueError, match="header"):
        load_reference(tmp_path)


def test_haversine_sql_is_the_search_expression():
    from libs.contracts.geo import haversine_sql

    assert haversine_sql() == ("(2 * 6371 * asin(sqrt(power(sin(radians(lat - :glat) / 2), 2) + cos(radians(:glat)) * "
                               "cos(radians(lat)) * power(sin(radians(lon - :glon) / 2), 2))))")
