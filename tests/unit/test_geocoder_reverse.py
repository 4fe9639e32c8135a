"""Reverse geocoding of partner coordinates on the shipped commune outlines."""

from __future__ import annotations

import pytest

from libs.contracts.events import NormalizedProject
from services.geocoder.domain import geocode
from services.geocoder.gazetteer import Gazetteer, default_gazetteer
from services.geocoder.reverse import Outlines, default_outlines


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return default_gazetteer()


@pytest.fixture(scope="module")
def outlines() -> Outlines:
    return default_outlines()


def project(**fields) -> NormalizedProject:
    return NormalizedProject(source="t", source_record_id="1", url="https://a.fr", title="T", content_hash="h", **fields)


@pytest.mark.parametrize(("lat", "lon", "code"), [
    (50.6942, 3.1746, "59512"),   # Roubaix
    (49.2535, 4.0337, "51454"),   # Reims cathedral
    (47.9960, 0.1990, "72181"),   # Le Mans
    (45.7797, 3.0870, "63113"),   # Clermont-Ferrand, place de Jaude
    (-12.919, 45.149, "97606"),   # Chirongui, Mayotte
    (48.8590, 2.3800, "75111"),   # Paris 11e
    (45.7600, 4.8590, "69383"),   # Lyon 3e
    (41.9192, 8.7386, "2A004"),   # Ajaccio
    (-21.0, 55.2700, "97415"),    # Saint-Paul, La Réunion
])
def test_known_points(outlines, lat, lon, code) -> None:
    assert outlines.locate(lat, lon) == code


def test_arrondissements_can_be_skipped(outlines) -> None:
    assert outlines.locate(48.8590, 2.3800, arrondissements=False) == "75056"


@pytest.mark.parametrize(("lat", "lon"), [(45.0, -5.0), (50.85, 4.35), (0.0, 0.0), (40.4, -3.7)])
def test_sea_and_abroad_give_none(outlines, lat, lon) -> None:
    assert outlines.locate(lat, lon) is None


def test_commune_centroids_fall_in_their_commune(gaz, outlines) -> None:
    """Outline centroids (from the full-resolution outlines) are inside the simplified ones,
    except for the few crescent-shaped communes whose centroid lies outside their outline."""
    communes = [c for c in gaz if c.precision == "commune"]
    ok = sum(outlines.locate(c.lat, c.lon) == c.code or _parent_ok(gaz, outlines, c)
             for c in communes)
    assert len(outlines) == 34_912
    assert ok / len(communes) >= 0.99


def _parent_ok(gaz, outlines, c) -> bool:
    code = outlines.locate(c.lat, c.lon)
    found = gaz.by_code(code) if code else None
    return found is not None and found.parent == c.code


def test_coordinates_settle_an_ambiguous_name(gaz) -> None:
    # "Saint-Denis" alone would be La Réunion's (most populated); the point is in Seine-Saint-Denis.
    loc = geocode(project(commune="Saint-Denis", lat=48.9362, lon=2.3574), gaz)
    assert loc.commune_code == "93066" and loc.precision == "coordinates"
    assert (loc.lat, loc.lon) == (48.9362, 2.3574) and loc.confidence >= 0.85


def test_coordinates_confirm_the_commune(gaz) -> None:
    loc = geocode(project(commune="Roubaix", postcode="59100", lat=50.6942, lon=3.1746), gaz)
    assert loc.commune_code == "59512" and loc.confidence >= 0.97


def test_coordinates_refine_a_departement(gaz) -> None:
    loc = geocode(project(commune="Nord", lat=50.6942, lon=3.1746), gaz)
    assert (loc.commune_code, loc.departement_code, loc.precision) == ("59512", "59", "coordinates")


def test_coordinates_contradicting_a_departement_are_not_used_for_the_commune(gaz) -> None:
    loc = geocode(project(commune="Finistère", lat=50.6942, lon=3.1746), gaz)  # Roubaix point, Brittany text
    assert loc.commune_code is None and loc.departement_code == "29"
    assert "too far" in loc.method and loc.confidence <= 0.5
