"""Unit tests for the indexer's pure logic (services/indexer/domain.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from libs.contracts.events import Contact, Location, NormalizedProject
from libs.contracts.search import SearchDocument
from services.indexer.domain import (
    Member,
    canonical_id,
    merge,
    same_content,
    search_document,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)

ROUBAIX = Location(commune_code="59512", commune_name="Roubaix", postcode="59100", departement_code="59",
                   departement_name="Nord", region_code="32", region_name="Hauts-de-France", lat=50.688, lon=3.182,
                   precision="commune", method="commune+postcode")
ROUBAIX_POINT = ROUBAIX.model_copy(update=dict(lat=50.69, lon=3.17, precision="coordinates"))
LILLE = Location(commune_code="59350", commune_name="Lille", postcode="59000", departement_code="59",
                 region_code="32", lat=50.63, lon=3.05, precision="commune")


def proj(source: str = "avise", rid: str = "1", title: str = "Roubaix territoire pilote Zéro Déchet", **fields) -> NormalizedProject:
    return NormalizedProject(source=source, source_record_id=rid, url=f"https://{source}.example.org/{rid}", title=title,
                             content_hash=f"h-{source}-{rid}", **fields)


def member(source: str, rid: str, location: Location = ROUBAIX, first_seen: datetime = T0, **fields) -> Member:
    return Member(record_key=f"{source}:{rid}", project=proj(source, rid, **fields), location=location,
                  first_seen=first_seen, last_seen=first_seen + timedelta(days=1))


# --------------------------------------------------------------------------- canonical id


def test_canonical_id_stable_and_readable() -> None:
    cid = canonical_id("Roubaix territoire pilote Zéro Déchet", "avise:avise-0147")
    assert cid == canonical_id("Roubaix territoire pilote Zéro Déchet", "avise:avise-0147")
    assert re.fullmatch(r"roubaix-territoire-pilote-zero-dechet-[0-9a-f]{8}", cid)
    assert canonical_id("Roubaix territoire pilote Zéro Déchet", "cerdd:1") != cid  # seeded by the founding record
    assert canonical_id("Roubaix territoire pilote Zéro Déchet", "avise:avise-0147", attempt=1) != cid


def test_canonical_id_edge_titles() -> None:
    long = canonical_id("mot " * 40, "k")
    slug = long.rsplit("-", 1)[0]
    assert len(slug) <= 60 and not slug.endswith("-") and slug.startswith("mot-mot")
    assert re.fullmatch(r"projet-[0-9a-f]{8}", canonical_id("!!!", "k"))


# --------------------------------------------------------------------------- merge


def test_merge_of_nothing_raises() -> None:
    with pytest.raises(ValueError, match="empty cluster"):
        merge("x", [], NOW)


def test_merge_single_member() -> None:
    m = member("avise", "avise-0147", description="Desc", summary="Desc", themes=["environnement-dechets"],
               stage="essaimage", holder_name="Ville de Roubaix", holder_type="collectivite")
    c = merge("cid", [m], NOW)
    assert (c.id, c.title, c.description, c.summary) == ("cid", m.project.title, "Desc", "Desc")
    assert c.themes == ["environnement-dechets"] and c.stage == "essaimage"
    assert (c.holder_name, c.holder_type) == ("Ville de Roubaix", "collectivite")
    assert c.location == ROUBAIX
    assert c.field_sources == {"title": "avise:avise-0147", "description": "avise:avise-0147", "location": "avise:avise-0147",
                               "stage": "avise:avise-0147", "holder": "avise:avise-0147"}
    assert c.first_seen == T0 and c.updated_at == NOW
    assert c.contact is None and c.website is None


def test_merge_cluster() -> None:
    a = member("avise", "avise-0147", title="Roubaix territoire pilote Zéro Déchet", description="Courte.",
               themes=["environnement-dechets", "democratie-citoyennete"], engineering=["territoriale"],
               stage="developpement", updated_at=date(2020, 1, 1), holder_name="Ville",
               holder_type="collectivite", first_seen=T0 + timedelta(days=3),
               contact=Contact(email="a@roubaix.fr"))
    b = member("cerdd", "cerdd-ini-0142", title="Roubaix, territoire pilote zéro déchet",
               description="Une description nettement plus longue.", summary="Résumé B", location=ROUBAIX_POINT,
               themes=["sante", "environnement-dechets"], engineering=["sociale"], stage="essaimage",
               updated_at=date(2023, 5, 1), holder_name="Ville de Roubaix", holder_type="collectivite", first_seen=T0,
               contact=Contact(website="https://www.roubaix.fr"))
    for order in ([a, b], [b, a]):
        c = merge("cid", order, NOW)
        assert c.title == "Roubaix, territoire pilote zéro déchet"  # from the oldest source (b)
        assert c.description == "Une description nettement plus longue." and c.summary == "Résumé B"
        assert c.location == ROUBAIX_POINT
        assert c.themes == ["sante", "environnement-dechets", "democratie-citoyennete"]  # union, taxonomy order
        assert c.engineering == ["sociale", "territoriale"]
        assert c.stage == "essaimage"  # most recently updated
        assert c.holder_name == "Ville de Roubaix"  # the oldest source's
        assert [(s.partner, s.record_id) for s in c.sources] == [("avise", "avise-0147"), ("cerdd", "cerdd-ini-0142")]
        assert [s.url for s in c.sources] == ["https://avise.example.org/avise-0147", "https://cerdd.example.org/cerdd-ini-0142"]
        assert c.sources[0].last_seen == a.last_seen
        assert c.field_sources == {
            "title": "cerdd:cerdd-ini-0142", "description": "cerdd:cerdd-ini-0142", "location": "cerdd:cerdd-ini-0142",
            "stage": "cerdd:cerdd-ini-0142", "holder": "cerdd:cerdd-ini-0142", "contact": "avise:avise-0147",
            "website": "cerdd:cerdd-ini-0142",
        }
        assert c.contact == Contact(email="a@roubaix.fr", website="https://www.roubaix.fr")
        assert c.website == "https://www.roubaix.fr"
        assert c.contact_agreed  # one e-mail published
        assert c.first_seen == T0
        assert c.updated_at == NOW


def test_a_newer_look_alike_takes_over_nothing() -> None:
    """Partner B published first; partner A pushes a look-alike with its own title, a longer
    description, its contact and coordinates elsewhere: B's project keeps B's fields."""
    b = member("b-partner", "1", title="Ressourcerie de Brest", description="Courte.", holder_name="Asso B",
               contact=Contact(email="contact@b.fr", phone="0298000000"), first_seen=T0)
    a = member("a-partner", "9", title="RESSOURCERIE DE BREST – la vraie", description="Bien plus longue " * 20,
               holder_name="Une association plus longue A", location=LILLE.model_copy(update={"precision": "coordinates"}),
               contact=Contact(email="pirate@a.fr", phone="0100000000", website="https://a.example"),
               first_seen=T0 + timedelta(days=30))
    for order in ([a, b], [b, a]):
        c = merge("x", order, NOW)
        assert (c.title, c.description, c.holder_name) == ("Ressourcerie de Brest", "Courte.", "Asso B")
        assert c.contact.email == "contact@b.fr" and c.contact.phone == "0298000000"
        assert c.location == ROUBAIX  # a more precise point in another commune does not move it
        assert not c.contact_agreed  # two e-mails: no claim confirmation by e-mail
        assert {c.field_sources[k] for k in ("title", "description", "holder", "contact", "location")} == {
            "b-partner:1"}


def test_merge_location_precision_ranking() -> None:
    """The oldest source with a location places the project; a newer one only refines it in the
    same commune."""
    dep = Location(departement_code="59", postcode="59999", precision="departement")
    none = Location()
    c = merge("x", [member("a", "1", location=none, description="long description"), member("b", "2", location=dep),
                    member("c", "3", location=ROUBAIX)], NOW)
    assert c.location == dep and c.field_sources["location"] == "b:2"
    assert c.field_sources["title"] == "a:1"
    c = merge("x", [member("a", "1", location=ROUBAIX), member("b", "2", location=ROUBAIX_POINT,
                                                                 first_seen=T0 + timedelta(days=1))], NOW)
    assert c.location == ROUBAIX_POINT and c.field_sources["location"] == "b:2"


def test_merge_is_deterministic_on_ties() -> None:
    a, b = member("avise", "1", description="same"), member("cerdd", "2", description="same")
    c1, c2 = merge("x", [a, b], NOW), merge("x", [b, a], NOW)
    assert c1 == c2
    assert c1.field_sources["title"] == "avise:1"  # same age: tie broken by the smallest record key
    assert c1.field_sources["location"] == "avise:1"  # tie broken by the smallest record key


def test_merge_stage_falls_back_to_published_then_first_seen() -> None:
    old = member("a", "1", stage="idee", published_at=date(2018, 1, 1))
    new = member("b", "2", stage="termine", first_seen=datetime(2022, 1, 1, tzinfo=UTC))
    assert merge("x", [old, new], NOW).stage == "termine"
    newer_pub = member("a", "1", stage="idee", published_at=date(2023, 1, 1))
    assert merge("x", [newer_pub, new], NOW).stage == "idee"


def test_merge_unknown_slugs_sort_last() -> None:
    c = merge("x", [member("a", "1", themes=["zzz-inconnu", "culture", "alimentation"])], NOW)
    assert c.themes == ["alimentation", "culture", "zzz-inconnu"]


def test_same_content_ignores_updated_at_only() -> None:
    ms = [member("avise", "1", description="D"), member("cerdd", "2")]
    a, b = merge("x", ms, NOW), merge("x", ms, NOW + timedelta(days=10))
    assert a.updated_at != b.updated_at
    assert same_content(a, b)
    assert not same_content(a, merge("x", ms[:1], NOW))
    assert not same_content(a, a.model_copy(update={"title": "Autre"}))
    assert not same_content(a, a.model_copy(update={"first_seen": T0 - timedelta(days=1)}))


# --------------------------------------------------------------------------- search document


def test_search_document_carries_facets() -> None:
    ms = [member("cerdd", "2", description="Longue description", location=ROUBAIX_POINT, themes=["sante"],
                 engineering=["sociale"], stage="essaimage", holder_name="Ville", holder_type="collectivite"),
          member("avise", "1", themes=["environnement-dechets"]),
          member("avise", "3", themes=["sante"])]
    c = merge("cid", ms, NOW)
    doc = search_document(c, 3)
    assert isinstance(doc, SearchDocument)
    assert (doc.id, doc.version, doc.title) == ("cid", 3, c.title)
    assert doc.theme == ["sante", "environnement-dechets"]
    assert doc.source == ["avise", "cerdd"]  # sorted, unique
    assert (doc.region, doc.region_name) == ("32", "Hauts-de-France")
    assert (doc.departement, doc.departement_name) == ("59", "Nord")
    assert (doc.commune, doc.commune_name, doc.postcode) == ("59512", "Roubaix", "59100")
    assert (doc.lat, doc.lon) == (50.69, 3.17)
    assert (doc.stage, doc.engineering, doc.holder_type, doc.holder_name) == ("essaimage", ["sociale"], "collectivite", "Ville")
    assert doc.url == "https://avise.example.org/1"  # first source in record-key order
    assert (doc.first_seen, doc.updated_at) == (T0, NOW)
    assert doc.description == "Longue description"
    assert (doc.country, doc.country_name, doc.locality) == ("FR", "France", None)


def test_search_document_abroad_has_no_french_facets() -> None:
    c = merge("cid", [member("esspace", "52", location=Location(country="BE", precision="country"))], NOW)
    doc = search_document(c, 1)
    assert doc.region is None and doc.departement is None and doc.commune is None and doc.lat is None
    assert doc.source == ["esspace"]
    assert (doc.country, doc.country_name) == ("BE", "Belgique")


def test_search_document_abroad_city_is_on_the_map_with_its_country() -> None:
    brussels = Location(country="BE", locality="Brussels", lat=50.8503, lon=4.3517, precision="commune",
                        method="abroad-city", confidence=0.85)
    doc = search_document(merge("cid", [member("esspace", "52", location=brussels)], NOW), 1)
    assert (doc.country, doc.country_name, doc.locality, doc.lat, doc.lon) == ("BE", "Belgique", "Brussels", 50.8503,
                                                                              4.3517)
    assert doc.region is None and doc.departement is None and doc.commune is None


def test_search_document_unlocated_has_no_country() -> None:
    doc = search_document(merge("cid", [member("avise", "9", location=Location())], NOW), 1)
    assert doc.country is None and doc.country_name is None
    swiss = search_document(merge("cid", [member("avise", "9", location=Location(country="CH"))], NOW), 1)
    assert (swiss.country, swiss.country_name) == ("CH", "Suisse")  # abroad, even without a precision


def test_every_location_precision_has_a_merge_rank() -> None:
    # a precision the geocoder may emit but the merge cannot rank would dead-letter the record
    from typing import get_args

    from libs.contracts.events import Precision
    from services.indexer.domain import PRECISION_RANK

    assert set(PRECISION_RANK) == set(get_args(Precision))
    assert PRECISION_RANK["departement"] < PRECISION_RANK["region"] < PRECISION_RANK["country"]
