"""Pure rules for using an online (addok/BAN) answer: when to ask, what to ask, what to keep."""

from __future__ import annotations

import pytest

from libs.contracts.events import NormalizedProject
from services.geocoder.domain import OnlineHit, geocode, merge_online, online_query, wants_online
from services.geocoder.gazetteer import Gazetteer, default_gazetteer


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return default_gazetteer()


def project(**fields) -> NormalizedProject:
    return NormalizedProject(source="t", source_record_id="1", url="https://a.fr", title="T", content_hash="h", **fields)


def hit(citycode="75111", kind="housenumber", score=0.9, postcode="75011") -> OnlineHit:
    return OnlineHit(lat=48.8589, lon=2.3801, score=score, kind=kind, citycode=citycode, postcode=postcode,
                     label="10 Rue Oberkampf 75011 Paris")


def test_asks_only_for_french_street_addresses_without_a_point(gaz) -> None:
    p = project(address="10 rue Oberkampf", commune="Paris", postcode="75011")
    assert wants_online(p, geocode(p, gaz))
    assert not wants_online(project(commune="Paris"), geocode(project(commune="Paris"), gaz))
    p2 = project(address="10 rue Oberkampf", commune="Paris", lat=48.8589, lon=2.3801)
    assert not wants_online(p2, geocode(p2, gaz))


def test_query_is_narrowed_to_the_sure_commune(gaz) -> None:
    p = project(address="10 rue Oberkampf", commune="Paris", postcode="75011")
    q, postcode, citycode = online_query(p, geocode(p, gaz))
    assert q == "10 rue Oberkampf 75011 Paris" and citycode == "75056" and postcode is None


def test_arrondissement_answer_agrees_with_the_commune(gaz) -> None:
    p = project(address="10 rue Oberkampf", commune="Paris", postcode="75011")
    loc = merge_online(geocode(p, gaz), hit(), gaz)
    assert (loc.precision, loc.lat, loc.lon, loc.commune_code) == ("address", 48.8589, 2.3801, "75056")
    assert loc.method.endswith("+online(housenumber)") and loc.confidence >= 0.9


@pytest.mark.parametrize("h", [None, hit(score=0.3), hit(kind="municipality"), hit(citycode="99999")])
def test_weak_or_coarse_answers_change_nothing(gaz, h) -> None:
    p = project(address="10 rue Oberkampf", commune="Paris", postcode="75011")
    before = geocode(p, gaz)
    assert merge_online(before, h, gaz) == before


def test_answer_fills_in_when_the_gazetteer_found_nothing(gaz) -> None:
    p = project(address="10 rue Oberkampf")
    loc = merge_online(geocode(p, gaz), hit(), gaz)
    assert (loc.commune_code, loc.precision, loc.postcode) == ("75111", "address", "75011")
    assert loc.confidence == 0.9  # the online score, as nothing contradicts it
