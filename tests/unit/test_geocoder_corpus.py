"""The geocoder on hundreds of messy location strings with known answers (tests/data/geocoding/).

``handwritten.csv``: strings as partners write them (typos, arrondissements, EPCI, départements,
régions, abroad, overseas, addresses, homonyms). ``generated.csv``: 400 perturbed names of
communes drawn at random (``generate.py``, seeded). Expected values are INSEE codes, or
``dep:CODE``, ``reg:CODE``, ``abroad:ISO``, ``none``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from libs.contracts.events import Location, NormalizedProject
from services.geocoder.domain import geocode
from services.geocoder.gazetteer import Gazetteer, default_gazetteer

DATA = Path(__file__).resolve().parents[1] / "data" / "geocoding"
SEEDS = {"Chirongui": "97606", "Reims": "51454", "Le Mans": "72181", "Roubaix": "59512", "Clermont-Ferrand": "63113"}


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return default_gazetteer()


def project(**fields) -> NormalizedProject:
    return NormalizedProject(source="t", source_record_id="1", url="https://a.fr", title="T", content_hash="h", **fields)


def outcome(loc: Location) -> str:
    if loc.country != "FR":
        return f"abroad:{loc.country}"
    if loc.commune_code:
        return loc.commune_code
    if loc.departement_code:
        return f"dep:{loc.departement_code}"
    if loc.region_code:
        return f"reg:{loc.region_code}"
    return "none"


def rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def run(gaz, corpus):
    wrong = []
    for r in corpus:
        loc = geocode(project(commune=r["text"] or None, postcode=r["postcode"] or None), gaz)
        got = outcome(loc)
        if got != r["expected"]:
            wrong.append((r["text"], r["postcode"], r["expected"], got, loc.method, loc.confidence))
        assert loc.confidence is not None and 0 <= loc.confidence <= 1
    return wrong


@pytest.mark.parametrize("name", ["handwritten.csv", "generated.csv"])
def test_corpus_accuracy(gaz, name) -> None:
    corpus = rows(name)
    assert len(corpus) >= 200
    wrong = run(gaz, corpus)
    accuracy = 1 - len(wrong) / len(corpus)
    print(f"{name}: {len(corpus)} strings, accuracy {accuracy:.2%}")
    assert accuracy >= 0.98, wrong


def test_corpus_size() -> None:
    assert len(rows("handwritten.csv")) + len(rows("generated.csv")) >= 600


@pytest.mark.parametrize(("name", "code"), SEEDS.items())
def test_seed_examples(gaz, name, code) -> None:
    loc = geocode(project(commune=name), gaz)
    assert loc.commune_code == code and loc.precision == "commune" and loc.confidence >= 0.95


# --------------------------------------------------------------------------- confidence


def conf(gaz, **fields) -> float:
    return geocode(project(**fields), gaz).confidence


def test_confidence_orders_the_evidence(gaz) -> None:
    confirmed = conf(gaz, commune="Roubaix", postcode="59100")
    unique = conf(gaz, commune="Roubaix")
    homonym = conf(gaz, commune="Beaulieu")  # 14 communes, none dominant
    typo = conf(gaz, commune="Roubaixx")
    assert conf(gaz, commune="97606") == 1.0
    assert 1.0 > confirmed > unique > typo > homonym
    assert homonym < 0.65


def test_name_and_postcode_in_conflict_is_low_confidence(gaz) -> None:
    loc = geocode(project(commune="Roubaix", postcode="75011"), gaz)
    assert loc.confidence <= 0.3 and "conflict" in loc.method


def test_homonym_without_hint_takes_the_most_populated_with_a_low_confidence(gaz) -> None:
    loc = geocode(project(commune="Valence"), gaz)
    assert loc.commune_code == "26362" and loc.method.endswith("ambiguous") and loc.confidence < 0.9


def test_departement_named_like_a_small_commune(gaz) -> None:
    loc = geocode(project(commune="Mayenne"), gaz)
    assert (loc.departement_code, loc.commune_code, loc.precision) == ("53", None, "departement")
    assert loc.confidence <= 0.6 and "same name" in loc.method


def test_region_only_is_placed_at_its_centroid(gaz) -> None:
    loc = geocode(project(commune="Région Bretagne"), gaz)
    reg = gaz.region("53")
    assert (loc.region_code, loc.region_name, loc.precision) == ("53", "Bretagne", "region")
    assert (loc.lat, loc.lon) == (reg.lat, reg.lon) and loc.departement_code is None


def test_departement_only_is_placed_at_its_centroid(gaz) -> None:
    loc = geocode(project(commune="Département du Nord"), gaz)
    dep = gaz.departement("59")
    assert (loc.departement_code, loc.region_code, loc.precision) == ("59", "32", "departement")
    assert (loc.lat, loc.lon) == (dep.lat, dep.lon)


def test_epci_goes_to_its_seat(gaz) -> None:
    loc = geocode(project(commune="Métropole Européenne de Lille"), gaz)
    assert loc.commune_code == "59350" and loc.method.startswith("epci-seat")


def test_free_address_field(gaz) -> None:
    loc = geocode(project(address="Maison des associations, 2 rue Kléber, 63000 Clermont-Ferrand"), gaz)
    assert loc.commune_code == "63113" and loc.postcode == "63000" and loc.confidence >= 0.95


def test_address_refines_a_departement_given_as_commune(gaz) -> None:
    loc = geocode(project(commune="Nord", address="12 rue de la Gare 59100 Roubaix"), gaz)
    assert loc.commune_code == "59512"


def test_postcode_of_several_communes_has_postcode_precision(gaz) -> None:
    loc = geocode(project(postcode="08110"), gaz)
    assert loc.precision == "postcode" and loc.commune_code is not None and loc.confidence == 0.6


def test_abroad_in_the_text(gaz) -> None:
    loc = geocode(project(commune="Genève (Suisse)"), gaz)
    assert (loc.country, loc.commune_code, loc.precision) == ("CH", None, "country")


# --------------------------------------------------------------------------- robustness

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None, database=None)
@given(commune=st.text(max_size=80), address=st.text(max_size=120),
       postcode=st.one_of(st.none(), st.from_regex(r"[0-9A-Za-z][0-9A-Za-z \-]{1,9}", fullmatch=True)))
def test_any_input_gives_a_location(commune, address, postcode) -> None:
    loc = geocode(project(commune=commune or None, address=address or None, postcode=postcode), default_gazetteer())
    assert 0 <= loc.confidence <= 1
    assert loc.precision in ("commune", "postcode", "departement", "region", "country", "none")
    assert (loc.commune_code is None) or default_gazetteer().by_code(loc.commune_code) is not None
