"""Saved searches and alerts: the pure rules (matching, gate keys, digest, unsubscribe token)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.contracts.events import CanonicalProject, Location, SourceRef
from services.gateway.alerts import rules
from services.gateway.search.rules import QueryError

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LILLE = Location(commune_code="59350", commune_name="Lille", postcode="59000", departement_code="59",
                 departement_name="Nord", region_code="32", region_name="Hauts-de-France", lat=50.63, lon=3.06,
                 precision="commune")
LYON = Location(commune_code="69123", commune_name="Lyon", departement_code="69", departement_name="Rhône",
                region_code="84", region_name="Auvergne-Rhône-Alpes", lat=45.76, lon=4.84, precision="commune")


def project(pid="p1", title="Jardin partagé des Lilas", themes=("alimentation",), location=LILLE, partner="avise",
            description="Un jardin cultivé par les habitants du quartier.", stage=None):
    return CanonicalProject(id=pid, title=title, description=description, themes=list(themes), stage=stage,
                            location=location, first_seen=NOW, updated_at=NOW,
                            sources=[SourceRef(partner=partner, record_id="1", url="https://a.example/1", last_seen=NOW)])


def q(*pairs):
    return rules.query_of(list(pairs))


def test_words_facets_and_place_must_all_match():
    item = rules.project_item(project())
    assert rules.matches(q(("q", "jardin")), item)
    assert rules.matches(q(("q", "jardins partages")), item)  # plural: same French stem
    assert rules.matches(q(("q", "Jardîn LIL")), item)  # accents, case, last word as a prefix
    assert not rules.matches(q(("q", "jardin fablab")), item)  # every word
    assert rules.matches(q(("theme", "alimentation"), ("theme", "mobilite")), item)  # OR within a facet
    assert not rules.matches(q(("theme", "mobilite")), item)
    assert not rules.matches(q(("theme", "alimentation"), ("departement", "69")), item)  # AND across facets
    assert rules.matches(q(("lat", "50.60"), ("lon", "3.10"), ("radius_km", "10")), item)
    assert not rules.matches(q(("lat", "45.76"), ("lon", "4.84"), ("radius_km", "100")), item)
    assert rules.matches(q(("bbox", "2.9,50.5,3.2,50.7")), item)
    assert not rules.matches(q(("bbox", "4,45,5,46")), item)


def test_radius_at_its_edge():
    item = rules.project_item(project())
    d = rules.haversine_km(50.0, 3.06, 50.63, 3.06)
    assert rules.matches(q(("lat", "50.0"), ("lon", "3.06"), ("radius_km", str(d + 0.001))), item)
    assert not rules.matches(q(("lat", "50.0"), ("lon", "3.06"), ("radius_km", str(d - 0.001))), item)


def test_an_unlocated_project_never_matches_a_place():
    item = rules.project_item(project(location=Location()))
    assert not rules.matches(q(("lat", "50.6"), ("lon", "3.0"), ("radius_km", "2000")), item)
    assert not rules.matches(q(("country", "FR")), item)  # as the search document: no country when unlocated


def test_posts_match_on_their_own_facets_only():
    post = {"id": "post-1", "title": "Cherche comptable bénévole", "description": "Pour le jardin",
            "themes": ["alimentation"], "skills": ["comptabilite"], "commune": "59350", "commune_name": "Lille",
            "departement": "59", "region": "32", "lat": 50.63, "lon": 3.06}
    item = rules.post_item(post)
    assert rules.matches(q(("q", "comptable"), ("departement", "59")), item)
    assert rules.matches(q(("theme", "alimentation"), ("lat", "50.6"), ("lon", "3.0"), ("radius_km", "20")), item)
    assert not rules.matches(q(("q", "comptable"), ("stage", "idee")), item)  # posts have no stage
    assert not rules.matches(q(("q", "comptable"), ("source", "avise")), item)


def test_saved_pairs_keep_the_search_and_refuse_nothing_or_bad_values():
    kept = rules.saved_pairs([("q", " jardin "), ("page", "3"), ("sort", "newest"), ("theme", "alimentation"),
                              ("theme", "alimentation"), ("format", "csv"), ("region", "")])
    assert kept == [("q", "jardin"), ("theme", "alimentation")]
    with pytest.raises(QueryError):
        rules.saved_pairs([("page", "2")])  # nothing left: every project of the platform
    with pytest.raises(QueryError, match="theme"):
        rules.saved_pairs([("theme", "n-importe-quoi")])
    with pytest.raises(QueryError, match="radius_km"):
        rules.saved_pairs([("radius_km", "10")])


def test_the_gate_picks_the_most_selective_requirement():
    assert rules.gate(q(("q", "jardin"), ("departement", "59"), ("theme", "alimentation"))) == ["f:departement:59"]
    assert set(rules.gate(q(("q", "jardins partagés"), ("theme", "alimentation")))) <= {"w:par", "w:jar"}
    assert rules.gate(q(("theme", "alimentation"), ("theme", "mobilite"))) == ["f:theme:alimentation",
                                                                               "f:theme:mobilite"]
    cells = rules.gate(q(("lat", "50.6"), ("lon", "3.0"), ("radius_km", "30"), ("theme", "alimentation")))
    assert "g:50:3" in cells and len(cells) <= 9
    assert rules.gates(q(("q", "jardin"), ("departement", "59"), ("theme", "alimentation"))) == [
        ["f:departement:59"], ["w:jar"]]  # the two most selective, in order
    # one-letter words and a continent-wide radius cannot gate: a candidate for every change
    assert rules.gate(q(("q", "a b"), ("lat", "46"), ("lon", "2"), ("radius_km", "2000"))) == []


GATED = [
    [("q", "jardin")], [("q", "jardins partages lil")], [("theme", "alimentation")], [("departement", "59")],
    [("commune", "59350")], [("region", "32"), ("q", "quartier")], [("source", "avise")],
    [("lat", "50.6"), ("lon", "3.0"), ("radius_km", "25")], [("bbox", "2.9,50.5,3.2,50.7")],
    [("lat", "50.63"), ("lon", "3.06"), ("radius_km", "0.5")], [("country", "FR")],
]


@pytest.mark.parametrize("pairs", GATED)
def test_every_match_carries_a_gate_key(pairs):
    """The consumer looks up candidate searches by gate keys: a search that matches an item must
    share a key with it (else it would never be asked)."""
    query = q(*pairs)
    item = rules.project_item(project())
    assert rules.matches(query, item)
    for gate in rules.gates(query):
        assert set(gate) & set(rules.item_keys(item))


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(["jardin", "jardins", "partagé", "lilas", "quartier", "habitants", "cultive",
                                       "jar", "hab", "qua", "velo", "fablab", "épicerie"]), min_size=1, max_size=3),
       lat=st.floats(42, 51), lon=st.floats(-4, 8), radius=st.floats(1, 900))
def test_gate_is_a_necessary_condition(words, lat, lon, radius):
    query = q(("q", " ".join(words)), ("lat", str(lat)), ("lon", str(lon)), ("radius_km", str(radius)))
    item = rules.project_item(project())
    if rules.matches(query, item):
        for gate in rules.gates(query):
            assert set(gate) & set(rules.item_keys(item))


def _items(n):
    return [{"item_kind": "project", "item_id": f"p{i}", "change": "new", "title": f"Projet {i}", "place": "Lille"}
            for i in range(n)]


@pytest.mark.parametrize("listed,more", [(1, 0), (rules.DIGEST_MAX_ITEMS, 0), (rules.DIGEST_MAX_ITEMS, 1),
                                         (rules.DIGEST_MAX_ITEMS, 5_000)])
def test_digest_lists_items_and_says_how_many_more(listed, more):
    subject, body = rules.digest_mail("Jardins du Nord", "daily", _items(listed), more, "https://c.example",
                                      [("q", "jardin")], "https://c.example/alertes/desabonnement/1.x")
    assert f"{listed + more} nouveauté" in subject
    assert body.count("https://c.example/projets/") == listed
    assert ("… et" in body) == (more > 0)
    if more:
        assert f"… et {more} autre" in body and "sort=newest" in body
    assert "https://c.example/alertes/desabonnement/1.x" in body


def test_unsubscribe_token_is_signed_per_search():
    token = rules.unsubscribe_token("k", 7, "nonce-a")
    assert rules.token_id(token) == 7 and rules.token_valid("k", token, "nonce-a")
    assert not rules.token_valid("k", token, "nonce-b")  # another search's nonce
    assert not rules.token_valid("other-key", token, "nonce-a")
    forged = "8." + token.split(".")[1]
    assert not rules.token_valid("k", forged, "nonce-a")
    for bad in ("", "7", "x.y", "7." + "0" * 31, "1" * 30 + "." + "0" * 32):
        assert rules.token_id(bad) is None


def test_the_consumer_is_off_in_process_and_on_where_the_platform_runs():
    """In-process test apps must not join consumer groups (each join slowed every later test); the
    deployments and `make up` turn the consumer on."""
    import yaml

    from services.gateway.settings import GatewaySettings
    from tools.devstack import ROOT, Stack

    assert GatewaySettings(_env_file=None).alerts_subscriber is False
    assert Stack().service_env()["ALERTS_SUBSCRIBER"] == "true"
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    assert compose["x-service"]["environment"]["ALERTS_SUBSCRIBER"] == "true"
    k8s = next(d for d in yaml.safe_load_all((ROOT / "deploy/k8s/base/config.yaml").read_text())
               if d["kind"] == "ConfigMap")
    assert k8s["data"]["ALERTS_SUBSCRIBER"] == "true"
