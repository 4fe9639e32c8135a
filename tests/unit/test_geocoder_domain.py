"""Unit tests for the geocoder's pure logic (services/geocoder/domain.py), on the real gazetteer."""

from __future__ import annotations

import pytest

from libs.contracts.events import NormalizedProject
from services.geocoder.domain import MAX_PARTNER_OFFSET_KM, geocode, haversine_km
from services.geocoder.gazetteer import Gazetteer, default_gazetteer


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return default_gazetteer()


def project(**fields) -> NormalizedProject:
    return NormalizedProject(source="avise", source_record_id="1", url="https://a.fr", title="T", content_hash="h", **fields)


# --------------------------------------------------------------------------- haversine


def test_haversine_paris_lyon() -> None:
    d = haversine_km(48.8566, 2.3522, 45.7640, 4.8357)
    assert abs(d - 392) <= 5


def test_haversine_properties() -> None:
    assert haversine_km(50.0, 3.0, 50.0, 3.0) == 0.0
    assert haversine_km(48.8566, 2.3522, 45.7640, 4.8357) == pytest.approx(haversine_km(45.7640, 4.8357, 48.8566, 2.3522))
    assert haversine_km(0, 0, 0, 1) == pytest.approx(111.19, abs=0.01)  # one degree on the equator
    assert haversine_km(0, 0, 0, 180) == pytest.approx(20015.1, abs=0.5)  # half the circumference
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.19, abs=0.01)  # across the antimeridian


# --------------------------------------------------------------------------- communes


@pytest.mark.parametrize(
    ("commune", "postcode", "code", "name", "dep", "dep_name", "region", "region_name"),
    [
        ("Roubaix", "59100", "59512", "Roubaix", "59", "Nord", "32", "Hauts-de-France"),
        ("Chirongui", "97620", "97606", "Chirongui", "976", "Mayotte", "06", "Mayotte"),
        ("Le Mans", "72000", "72181", "Le Mans", "72", "Sarthe", "52", "Pays de la Loire"),
        ("LE MANS", "72000", "72181", "Le Mans", "72", "Sarthe", "52", "Pays de la Loire"),
        ("Mans (Le)", None, "72181", "Le Mans", "72", "Sarthe", "52", "Pays de la Loire"),
        ("Reims", "51100", "51454", "Reims", "51", "Marne", "44", "Grand Est"),
    ],
)
def test_commune_resolution(gaz, commune, postcode, code, name, dep, dep_name, region, region_name) -> None:
    loc = geocode(project(commune=commune, postcode=postcode), gaz)
    assert (loc.commune_code, loc.commune_name) == (code, name)
    assert (loc.departement_code, loc.departement_name) == (dep, dep_name)
    assert (loc.region_code, loc.region_name) == (region, region_name)
    assert loc.country == "FR"
    assert loc.precision == "commune"
    c = gaz.by_code(code)
    assert (loc.lat, loc.lon) == (c.lat, c.lon)
    assert loc.postcode in c.postcodes


def test_method_reports_how_the_commune_was_found(gaz) -> None:
    assert geocode(project(commune="Roubaix", postcode="59100"), gaz).method == "commune+postcode"
    assert geocode(project(commune="Roubaix"), gaz).method == "commune"
    by_postcode = geocode(project(postcode="59100"), gaz)
    assert by_postcode.method == "postcode" and by_postcode.commune_code == "59512"


def test_postcode_of_the_partner_is_kept_when_the_commune_has_it(gaz) -> None:
    loc = geocode(project(commune="Paris", postcode="75012"), gaz)
    assert loc.commune_code == "75056" and loc.postcode == "75012"


@pytest.mark.parametrize("country", [None, "", "France", "FRANCE", "fr", "La Réunion", "Mayotte", "France métropolitaine"])
def test_france_and_overseas_names_are_domestic(gaz, country) -> None:
    loc = geocode(project(commune="Roubaix", postcode="59100", country=country), gaz)
    assert loc.country == "FR" and loc.commune_code == "59512"


# --------------------------------------------------------------------------- partner coordinates


def test_partner_coordinates_near_the_commune_are_kept(gaz) -> None:
    loc = geocode(project(commune="Roubaix", postcode="59100", lat=50.6942, lon=3.1746), gaz)
    assert (loc.lat, loc.lon) == (50.6942, 3.1746)
    assert loc.precision == "coordinates"
    assert loc.method == "commune+postcode+coordinates"
    assert loc.commune_code == "59512" and loc.region_code == "32"


def test_partner_coordinates_within_allowance_are_kept(gaz) -> None:
    c = gaz.by_code("59512")
    lat = c.lat + (MAX_PARTNER_OFFSET_KM - 5) / 111.2  # ~75 km due north
    loc = geocode(project(commune="Roubaix", postcode="59100", lat=lat, lon=c.lon), gaz)
    assert loc.precision == "coordinates" and loc.lat == lat


@pytest.mark.parametrize(("lat", "lon"), [(3.1746, 50.6942), (43.2965, 5.3698), (-50.69, 3.17)])
def test_partner_coordinates_far_away_are_ignored(gaz, lat, lon) -> None:
    loc = geocode(project(commune="Roubaix", postcode="59100", lat=lat, lon=lon), gaz)
    c = gaz.by_code("59512")
    assert (loc.lat, loc.lon) == (c.lat, c.lon)
    assert loc.precision == "commune"
    assert loc.commune_code == "59512"
    assert "too far" in loc.method and loc.method.startswith("commune+postcode")


def test_overseas_partner_coordinates_kept(gaz) -> None:
    loc = geocode(project(commune="Chirongui", postcode="97620", lat=-12.93, lon=45.15), gaz)
    assert loc.precision == "coordinates" and (loc.lat, loc.lon) == (-12.93, 45.15)
    assert loc.departement_code == "976"


# --------------------------------------------------------------------------- abroad


def test_abroad_without_coordinates(gaz) -> None:
    loc = geocode(project(commune="Bruxelles", postcode="1000", country="Belgique"), gaz)
    assert loc.country == "BE"
    assert loc.commune_code is None and loc.departement_code is None and loc.region_code is None
    # located in its own city (world gazetteer), never in France
    assert loc.postcode is None and loc.locality == "Brussels" and abs(loc.lat - 50.85) < 0.05
    assert loc.precision == "commune" and loc.method == "abroad-city"
    # a foreign country without a known city: the country only
    loc = geocode(project(commune="Un village de brousse", country="Burkina Faso"), gaz)
    assert (loc.country, loc.locality, loc.lat, loc.precision) == ("BF", None, None, "country")


def test_abroad_with_coordinates(gaz) -> None:
    loc = geocode(project(commune="Bruxelles", postcode="1000", country="Belgique", lat=50.8467, lon=4.3525), gaz)
    assert loc.country == "BE" and loc.commune_code is None
    assert (loc.lat, loc.lon, loc.precision) == (50.8467, 4.3525, "coordinates")


@pytest.mark.parametrize(("country", "code"), [("Suisse", "CH"), ("SUISSE", "CH"), ("Côte d'Ivoire", "CI"),
                                               ("Royaume-Uni", "GB"), ("Atlantis", "ATLANTIS")])
def test_country_codes(gaz, country, code) -> None:
    loc = geocode(project(commune="Paris", postcode="75012", country=country), gaz)
    assert loc.country == code and loc.commune_code is None


# --------------------------------------------------------------------------- fallbacks


def test_unknown_commune_with_known_postcode_prefix_gives_departement(gaz) -> None:
    loc = geocode(project(commune="Inconnueville", postcode="59999"), gaz)
    dep = gaz.departement("59")
    assert loc.commune_code is None
    assert (loc.departement_code, loc.departement_name, loc.region_code, loc.region_name) == ("59", "Nord", "32", "Hauts-de-France")
    assert (loc.lat, loc.lon) == (dep.lat, dep.lon)
    assert loc.postcode == "59999"
    assert loc.precision == "departement" and loc.method == "postcode-prefix"


def test_departement_fallback_keeps_plausible_coordinates(gaz) -> None:
    loc = geocode(project(commune="Inconnueville", postcode="59999", lat=50.5, lon=3.2), gaz)
    assert loc.departement_code == "59"
    assert (loc.lat, loc.lon, loc.precision) == (50.5, 3.2, "coordinates")


def test_departement_fallback_ignores_swapped_coordinates(gaz) -> None:
    loc = geocode(project(commune="Inconnueville", postcode="59999", lat=3.2, lon=50.5), gaz)
    dep = gaz.departement("59")
    assert loc.departement_code == "59"
    assert (loc.lat, loc.lon, loc.precision) == (dep.lat, dep.lon, "departement")
    assert "too far" in loc.method


def test_coordinates_only_are_reverse_geocoded_to_their_commune(gaz) -> None:
    loc = geocode(project(lat=50.6942, lon=3.1746), gaz)
    assert (loc.lat, loc.lon, loc.precision, loc.method) == (50.6942, 3.1746, "coordinates", "coordinates-in-commune")
    assert (loc.commune_code, loc.departement_code, loc.region_code) == ("59512", "59", "32")
    assert loc.confidence == 0.85


def test_coordinates_only_at_sea(gaz) -> None:
    loc = geocode(project(lat=45.0, lon=-5.0), gaz)  # Bay of Biscay
    assert (loc.lat, loc.lon, loc.precision, loc.method) == (45.0, -5.0, "coordinates", "coordinates-only")
    assert loc.commune_code is None and loc.country == "FR" and loc.confidence == 0.5


@pytest.mark.parametrize("fields", [dict(), dict(commune="Inconnueville"), dict(postcode="00000"),
                                    dict(commune="", postcode=""), dict(address="1 rue de nulle part")])
def test_nothing_known_gives_precision_none(gaz, fields) -> None:
    loc = geocode(project(**fields), gaz)
    assert loc.precision == "none" and loc.method == "none"
    assert loc.commune_code is None and loc.departement_code is None and loc.lat is None and loc.lon is None
    assert loc.country == "FR"
