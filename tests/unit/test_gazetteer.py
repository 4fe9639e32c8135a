"""Unit tests for the offline communes gazetteer (services/geocoder/gazetteer.py)."""

from __future__ import annotations

import pytest

from services.geocoder.gazetteer import (
    Commune,
    Gazetteer,
    default_gazetteer,
    normalize_name,
    normalize_postcode,
)


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return default_gazetteer()


# -- data: counts and coordinates ------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name", "lat", "lon"),
    [
        ("97606", "Chirongui", -12.919, 45.149),
        ("51454", "Reims", 49.252, 4.040),
        ("59512", "Roubaix", 50.688, 3.182),
        ("63113", "Clermont-Ferrand", 45.786, 3.115),
        ("72181", "Le Mans", 47.989, 0.200),
    ],
)
def test_spot_coordinates(gaz: Gazetteer, code: str, name: str, lat: float, lon: float) -> None:
    c = gaz.by_code(code)
    assert c is not None
    assert c.name == name
    assert c.precision == "commune"
    assert abs(c.lat - lat) < 0.05
    assert abs(c.lon - lon) < 0.05


def test_commune_count(gaz: Gazetteer) -> None:
    communes = [c for c in gaz if c.kind == "COM"]
    assert 34_800 <= len(communes) <= 35_000
    assert len({c.code for c in communes}) == len(communes)
    # metropole + DROM all have a point (own outline or département fallback)
    assert all(c.lat is not None for c in communes if c.zone != "com")


def test_arrondissements(gaz: Gazetteer) -> None:
    arms = [c for c in gaz if c.kind == "ARM"]
    assert len(arms) == 45
    assert {c.parent for c in arms} == {"75056", "69123", "13055"}
    p1 = gaz.by_code("75101")
    assert p1 is not None and p1.parent == "75056" and p1.postcodes == ("75001",)


def test_mayotte(gaz: Gazetteer) -> None:
    mayotte = [c for c in gaz if c.departement == "976" and c.kind == "COM"]
    assert len(mayotte) == 17
    assert all(c.zone == "drom" and c.region == "06" for c in mayotte)
    assert all(-13.1 < c.lat < -12.6 and 44.9 < c.lon < 45.4 for c in mayotte)
    dep = gaz.departement("976")
    assert dep is not None and dep.name == "Mayotte"


def test_commune_without_outline_falls_back_to_departement(gaz: Gazetteer) -> None:
    c = gaz.by_code("14581")  # Aurseulles: no outline in the source
    assert c is not None and c.precision == "departement"
    dep = gaz.departement("14")
    assert (c.lat, c.lon) == (dep.lat, dep.lon)


def test_commune_record_fields(gaz: Gazetteer) -> None:
    c = gaz.by_code("59512")
    assert isinstance(c, Commune)
    assert c.departement == "59" and c.departement_name == "Nord"
    assert c.region == "32" and c.region_name == "Hauts-de-France"
    assert c.postcodes == ("59100",)
    assert c.population > 90_000
    assert c.zone == "metro" and c.kind == "COM" and c.parent is None
    with pytest.raises(AttributeError):
        c.name = "x"  # type: ignore[misc]


def test_departement_and_region(gaz: Gazetteer) -> None:
    nord = gaz.departement("59")
    assert nord is not None and nord.name == "Nord" and nord.region == "32"
    assert nord.region_name == "Hauts-de-France"
    assert 50.0 < nord.lat < 51.0 and 2.5 < nord.lon < 4.0
    hdf = gaz.region("32")
    assert hdf is not None and hdf.name == "Hauts-de-France"
    assert 49.0 < hdf.lat < 51.0
    assert gaz.departement("2A").name == "Corse-du-Sud"
    assert gaz.departement("1").name == "Ain"
    assert gaz.departement("00") is None
    assert gaz.region("99") is None


# -- lookups ------------------------------------------------------------------------


def test_by_code(gaz: Gazetteer) -> None:
    assert gaz.by_code("42218").name == "Saint-Étienne"
    assert gaz.by_code("1001").code == "01001"  # leading zero lost by a spreadsheet
    assert gaz.by_code("2a004").code == "2A004"
    assert gaz.by_code("00000") is None
    assert gaz.by_code(None) is None


def test_by_postcode(gaz: Gazetteer) -> None:
    assert [c.code for c in gaz.by_postcode("51100")] == ["51454"]
    assert "97606" in [c.code for c in gaz.by_postcode("97620")]
    assert gaz.by_postcode("51 100")[0].name == "Reims"
    assert gaz.by_postcode("99999") == []
    assert gaz.by_postcode("abc") == []
    paris = gaz.by_postcode("75015")
    assert paris[0].code == "75056" and paris[1].kind == "ARM"  # commune first


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("le mans", "72181"),
        ("LE MANS", "72181"),
        ("Mans (Le)", "72181"),
        ("Mans", "72181"),
        ("st etienne", "42218"),
        ("ST ETIENNE", "42218"),
        ("saint etienne", "42218"),
        ("Saint-Étienne", "42218"),
        ("clermont ferrand", "63113"),
        ("Clermont-Ferrand", "63113"),
        ("L'Haÿ-les-Roses", "94038"),
        ("l hay les roses", "94038"),
        ("Haÿ-les-Roses (L')", "94038"),
        ("Abymes (Les)", "97101"),
        ("les abymes", "97101"),
        ("Reims CEDEX", "51454"),
        ("Chirongui", "97606"),
    ],
)
def test_by_name_variants(gaz: Gazetteer, query: str, code: str) -> None:
    found = gaz.by_name(query)
    assert found, query
    assert found[0].code == code


def test_by_name_filters(gaz: Gazetteer) -> None:
    all_sd = gaz.by_name("Saint-Denis")
    assert len(all_sd) >= 2
    assert [c.code for c in gaz.by_name("Saint-Denis", postcode="97400")] == ["97411"]
    assert [c.code for c in gaz.by_name("Saint-Denis", departement="93")] == ["93066"]
    assert gaz.by_name("Saint-Denis", postcode="51100") == []
    assert gaz.by_name("") == []


def test_normalize_name() -> None:
    assert normalize_name("Saint-Étienne") == normalize_name("saint etienne") == "saint etienne"
    assert normalize_name("ST ETIENNE") == "saint etienne"
    assert normalize_name("Ste-Marie") == "sainte marie"
    assert normalize_name("Mans (Le)") == normalize_name("Le Mans") == "le mans"
    assert normalize_name("L’Haÿ-les-Roses") == "l hay les roses"
    assert normalize_name("Œuilly") == "oeuilly"
    assert normalize_name("  Reims   Cedex 2 ") == "reims"
    assert normalize_name("") == ""


def test_normalize_postcode() -> None:
    assert normalize_postcode("1400") == "01400"
    assert normalize_postcode(51100) == "51100"
    assert normalize_postcode("51 100") == "51100"
    assert normalize_postcode("5110") == "05110"
    assert normalize_postcode("ABCDE") is None
    assert normalize_postcode(None) is None


# -- resolve --------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "code", "method"), [
    ({"commune": "Paris", "postcode": "13001", "insee": "51454"}, "51454", "insee"),
    ({"commune": "Saint-Denis", "postcode": "97400"}, "97411", "commune+postcode"),
    ({"commune": "st etienne", "postcode": "42100"}, "42218", "commune+postcode"),
    ({"commune": "Marseille", "postcode": "13001"}, "13055", "commune+postcode"),
    ({"commune": "REIMS CEDEX", "postcode": "51084"}, "51454", "commune"),  # a CEDEX postcode: the département
    ({"postcode": "51100"}, "51454", "postcode"),
    ({"postcode": "97620"}, "97606", "postcode"),  # Chirongui > Bouéni
    ({"postcode": "75015"}, "75056", "postcode"),  # the commune, not the arrondissement
    ({"commune": "Nowhere-sur-Mer", "postcode": "51100"}, "51454", "postcode"),  # a name not of the postcode
    ({"commune": "clermont ferrand"}, "63113", "commune"),
    ({"commune": "Mans (Le)"}, "72181", "commune"),
])
def test_resolve(gaz: Gazetteer, given: dict[str, str], code: str, method: str) -> None:
    c, found = gaz.resolve(**given)
    assert (c.code, found) == (code, method)


def test_resolve_insee_of_an_arrondissement(gaz: Gazetteer) -> None:
    c, method = gaz.resolve(insee="75115")
    assert (c.code, c.kind, method) == ("75115", "ARM", "insee")


def test_resolve_ambiguous_name_picks_most_populated(gaz: Gazetteer) -> None:
    c, method = gaz.resolve(commune="Saint-Denis")
    assert method == "commune-ambiguous"
    candidates = gaz.by_name("Saint-Denis")
    assert c == max(candidates, key=lambda x: x.population)
    assert c.code in {"93066", "97411"}


def test_resolve_unknown(gaz: Gazetteer) -> None:
    assert gaz.resolve(commune="Nowhere-sur-Mer") == (None, "none")
    assert gaz.resolve(commune="Nowhere-sur-Mer", postcode="99999") == (None, "none")
    assert gaz.resolve(insee="00000") == (None, "none")
    assert gaz.resolve() == (None, "none")


def test_default_gazetteer_is_cached() -> None:
    assert default_gazetteer() is default_gazetteer()


def test_load_explicit_dir(gaz: Gazetteer) -> None:
    from services.geocoder import gazetteer as mod

    other = Gazetteer.load(mod.DATA_DIR)
    assert len(other) == len(gaz)
