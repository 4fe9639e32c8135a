"""Unit tests for the pure dedup package: features, blocking, scoring, clustering, ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.contracts.events import Contact, Location, NormalizedProject
from services.indexer.dedup import (
    MATCH_WEIGHT,
    Edge,
    assign_ids,
    block_keys,
    cluster,
    features,
    score,
)
from services.indexer.dedup.features import domain_of, phone_of

ROUBAIX = Location(commune_code="59512", commune_name="Roubaix", departement_code="59", lat=50.69, lon=3.18,
                   precision="commune")
LILLE = Location(commune_code="59350", commune_name="Lille", departement_code="59", lat=50.63, lon=3.05,
                 precision="commune")
LYON = Location(commune_code="69123", commune_name="Lyon", departement_code="69", lat=45.76, lon=4.84,
                precision="commune")


def f(title: str, location: Location = ROUBAIX, source: str = "avise", rid: str = "1", **fields):
    p = NormalizedProject(source=source, source_record_id=rid, url=f"https://{source}.example/{rid}", title=title,
                          content_hash="h", **fields)
    return features(p, location)


def test_features_fold_expand_and_drop_the_town() -> None:
    x = f("Association Les Jardins Partagés de St-Roch (Roubaix)")
    assert x.title == "jardin partage saint roch" and x.title_town == "roubaix"
    assert f("Roubaix zéro déchet").title == "roubaix zero dechet"  # the town inside the name stays


@pytest.mark.parametrize(("decorated", "plain"), [
    ("La Ruche des Savoirs : apprendre entre voisins", "La Ruche des Savoirs"),
    ("La Ruche des Savoirs – apprendre entre voisins", "La Ruche des Savoirs"),
    ("Vélo Pour Tous, porté par Centre social des Lilas", "Vélo Pour Tous"),
    ("Vélo Pour Tous (portée par le Centre social des Lilas)", "Vélo Pour Tous"),
    ("Bricothèque Partagée – Roubaix", "Bricothèque Partagée"),
    ("Cuisine Mobile (Roubaix)", "Cuisine Mobile"),
    ("Cuisine Mobile à Roubaix", "Cuisine Mobile"),
    ("Roubaix : Cuisine Mobile", "Cuisine Mobile"),
    ("Projet « Les Mains Vertes »", "Les Mains Vertes"),
    ('Projet "Les Mains Vertes"', "Les Mains Vertes"),
    ("Graines d'Ici, grainothèque", "Graines d’Ici"),
    ("GRAINES D'ICI", "Graines d'Ici"),
    ("Epicerie Solidaire Les Pres", "Épicerie solidaire Les Prés"),
])
def test_decorations_are_not_the_name(decorated: str, plain: str) -> None:
    assert f(decorated).title == f(plain).title
    s = score(f(decorated), f(plain, source="cerdd", rid="2"))
    assert s.levels["title"] == "exact" and s.matched, s.explain()


def test_a_kind_word_more_is_containment() -> None:
    s = score(f("Recyclerie La Forge"), f("La Forge", source="cerdd", rid="2"))
    assert s.levels["title"] == "contained"


def test_a_project_named_as_its_holder_keeps_its_name() -> None:
    x = f("Les Coquelicots", holder_name="Les Coquelicots")
    assert x.title == "coquelicots"
    assert f("Les Coquelicots, Les Coquelicots", holder_name="Les Coquelicots").title == "coquelicots"


@pytest.mark.parametrize(("raw", "expected"), [
    ("03 20 12 34 56", "320123456"), ("+33 3 20 12 34 56", "320123456"), ("0320123456", "320123456"),
    ("0033 3 20 12 34 56", "320123456"), ("12", ""), (None, "")])
def test_phone_normalisation(raw, expected) -> None:
    assert phone_of(raw) == expected


def test_domains_ignore_www_and_generic_hosts() -> None:
    assert domain_of("https://www.Exemple.org/page") == "exemple.org"
    assert domain_of("http://exemple.org") == "exemple.org"
    assert domain_of("https://www.facebook.com/monprojet") == ""
    assert domain_of(None) == ""


def test_block_keys_cover_place_words_and_contacts() -> None:
    x = f("Épicerie solidaire La Passerelle", contact=Contact(email="A@b.fr", phone="03 20 12 34 56",
                                                           website="https://passerelle.fr"))
    keys = block_keys(x)
    assert {"c:59512", "ct:59512:passerelle", "dt:59:passerelle", "t:passerelle", "w:passerelle.fr", "e:a@b.fr",
            "p:320123456", "u:https://avise.example/1"} <= set(keys)
    assert keys == sorted(keys)
    assert "t:epicerie" not in keys and "dt:59:epicerie" not in keys  # generic words block only in the commune
    assert "ct:59512:epicerie" in keys


@pytest.mark.parametrize(("a", "b"), [
    ("Tiers-lieu La Quincaillerie", "La Quincaillerie, tiers-lieu de Roubaix"),
    ("Roubaix territoire pilote Zéro Déchet", "ROUBAIX, territoire pilote « zéro déchet » !"),
    ("Colocation intergénérationnelle Toit + Moi", "Colocation intergén. Toit + Moi"),
])
def test_variants_in_one_town_match(a: str, b: str) -> None:
    s = score(f(a), f(b, source="cerdd", rid="2"))
    assert s.matched, s.explain()
    assert s.probability >= 0.999


def test_reordered_segments_are_the_same_title() -> None:
    s = score(f("Épicerie solidaire La Passerelle"), f("Association La Passerelle – épicerie solidaire", rid="2",
                                                       source="cerdd"))
    assert s.levels["title"] == "exact" and s.matched


def test_a_name_inside_another_with_nothing_else_goes_to_review() -> None:
    a, b = "Épicerie solidaire La Passerelle", "La Passerelle"
    s = score(f(a), f(b, source="cerdd", rid="2"))
    assert s.levels["title"] == "contained" and s.review and not s.matched, s.explain()
    mail = Contact(email="contact@passerelle.fr")
    assert score(f(a, contact=mail), f(b, source="cerdd", rid="2", contact=mail)).matched


@pytest.mark.parametrize(("a", "la", "b", "lb", "why"), [
    ("Repair café La Ruche", ROUBAIX, "Repair café La Ruche", LYON, "same name, two towns"),
    ("Jardin partagé Les Lilas", ROUBAIX, "Jardin partagé Bel Air", ROUBAIX, "same kind, another name"),
    ("Jardin partagé", ROUBAIX, "Jardin partagé", LILLE, "generic titles in two towns"),
    ("Ressourcerie numérique de Roubaix", ROUBAIX, "Ressourcerie numérique de Lille", LILLE, "one template, two towns"),
    ("Repair café Roubaix", ROUBAIX, "Repair café Lille", LILLE, "a network in two towns"),
    ("Halte-répit Le Phare", ROUBAIX, "Ferme urbaine Le Phare", ROUBAIX, "same name, two kinds"),
])
def test_near_misses_do_not_match(a, la, b, lb, why) -> None:
    s = score(f(a, la), f(b, lb, source="cerdd", rid="2"))
    assert not s.matched, (why, s.explain())


def test_network_sharing_a_website_in_two_towns_stays_apart() -> None:
    site = Contact(website="https://www.reseau-repair.org")
    s = score(f("Repair café Roubaix", contact=site), f("Repair café Lille", LILLE, "cerdd", "2", contact=site))
    assert not s.matched and s.explain()["comparisons"]["contact"]["level"] == "same"


def test_shared_contact_rescues_a_distant_pair_and_explains_itself() -> None:
    mail = Contact(email="contact@passerelle.fr")
    near = score(f("Épicerie La Passerelle"), f("Epicerie La Paserelle", source="cerdd", rid="2"))
    assert near.levels["title"] == "close" and near.matched
    far = score(f("Épicerie La Passerelle"), f("Epicerie La Paserelle", LYON, source="cerdd", rid="2"))
    assert far.rule == "far_apart" and not far.matched and not far.review
    s = score(f("Épicerie La Passerelle", contact=mail), f("Epicerie La Paserelle", LYON, source="cerdd", rid="2",
                                                          contact=mail))
    assert s.rule is None and s.levels["place"] == "far"
    e = s.explain()
    assert e["comparisons"]["contact"]["level"] == "same" and e["comparisons"]["contact"]["weight"] > 5
    assert e["weight"] == pytest.approx(e["prior"] + sum(c["weight"] for c in e["comparisons"].values()), abs=0.01)


LYON_7 = Location(commune_code="69387", commune_name="Lyon 7e Arrondissement", postcode="69007",
                  departement_code="69", lat=45.733, lon=4.837, precision="commune")
LYON_3 = Location(commune_code="69383", commune_name="Lyon 3e Arrondissement", postcode="69003",
                  departement_code="69", lat=45.759, lon=4.849, precision="commune")


def test_an_arrondissement_equals_its_city_but_not_another_arrondissement() -> None:
    assert score(f("La Forge", LYON), f("La Forge – Lyon", LYON_7, "cerdd", "2")).levels["place"] == "same_commune"
    assert f("La Forge – Lyon", LYON_7).title == "forge"
    other = score(f("La Forge", LYON_3), f("La Forge", LYON_7, "cerdd", "2"))
    assert other.levels["place"] == "under_10km"


def test_a_shared_postcode_is_its_own_level() -> None:
    neighbour = Location(commune_code="59999", commune_name="Ailleurs", postcode="59100", departement_code="59",
                         lat=50.70, lon=3.20, precision="postcode")
    here = ROUBAIX.model_copy(update={"postcode": "59100"})
    assert score(f("La Forge", here), f("La Forge", neighbour, "cerdd", "2")).levels["place"] == "same_postcode"


def test_weights_come_from_the_trained_file() -> None:
    import json

    from services.indexer.dedup.scoring import LEVELS, PRIOR, WEIGHTS_FILE

    data = json.loads(WEIGHTS_FILE.read_text())
    m, u = data["comparisons"]["title"]["exact"]["m"], data["comparisons"]["title"]["exact"]["u"]
    import math

    assert LEVELS["title"]["exact"] == pytest.approx(math.log2(m / u), abs=1e-3)
    assert pytest.approx(math.log2(data["prior"] / (1 - data["prior"])), abs=1e-3) == PRIOR
    assert LEVELS["title"]["exact"] > LEVELS["title"]["contained"] > LEVELS["title"]["different"]


def test_hard_rules() -> None:
    same_source = score(f("Tiers-lieu La Quincaillerie"), f("Tiers-lieu La Quincaillerie", rid="2"))
    assert same_source.rule == "same_source" and not same_source.matched and same_source.weight > MATCH_WEIGHT
    a = f("Tiers-lieu La Quincaillerie")
    same_url = score(a, f("Autre chose", LYON, rid="2")._replace(url=a.url))
    assert same_url.rule == "same_url" and same_url.matched
    unrelated = score(f("Atelier vélo Le Phare", contact=Contact(phone="0320123456")),
                      f("Ressourcerie La Fabrique", source="cerdd", rid="2", contact=Contact(phone="0320999999")))
    assert unrelated.rule == "title_differs" and not unrelated.matched


TITLES = st.sampled_from(["Épicerie solidaire La Passerelle", "La Passerelle", "Jardin partagé", "Repair café Lille",
                          "Tiers-lieu La Quincaillerie", "Le Trait d'union", "Roubaix zéro déchet"])


@given(TITLES, TITLES, st.sampled_from([ROUBAIX, LILLE, LYON]), st.sampled_from([ROUBAIX, LILLE, LYON]))
def test_score_is_symmetric(a, b, la, lb) -> None:
    x, y = f(a, la), f(b, lb, source="cerdd", rid="2")
    assert score(x, y).weight == pytest.approx(score(y, x).weight)
    assert score(x, y).matched == score(y, x).matched


NODES = {"a:1": ("a", "u1"), "b:1": ("b", "u2"), "a:2": ("a", "u3"), "c:1": ("c", "u4")}


def test_cluster_greedy_with_same_source_constraint() -> None:
    edges = [Edge("a:1", "b:1", 9), Edge("b:1", "a:2", 8), Edge("c:1", "a:2", 6)]
    # a:2 cannot join a:1's group (same source, another URL): it stays with c:1
    assert cluster(NODES, edges) == [["a:1", "b:1"], ["a:2", "c:1"]]


def test_cluster_overrides() -> None:
    edges = [Edge("a:1", "b:1", 9), Edge("b:1", "c:1", 8)]
    assert cluster(NODES, edges) == [["a:1", "b:1", "c:1"], ["a:2"]]
    assert cluster(NODES, edges, not_same=[("c:1", "a:1")]) == [["a:1", "b:1"], ["a:2"], ["c:1"]]
    assert cluster(NODES, [], same=[("a:1", "a:2")]) == [["a:1", "a:2"], ["b:1"], ["c:1"]]  # operator beats the rule


def test_assign_ids_keeps_ids_where_most_records_stay() -> None:
    old = {"p1": {"a:1", "b:1", "c:1"}}
    # c:1 (the trigger) leaves: p1 stays with the others, c:1 gets a new id (none here)
    assert assign_ids([["a:1", "b:1"], ["c:1"]], old, trigger="c:1") == {0: "p1"}
    # a record joining another project leaves its old singleton project behind
    old = {"p1": {"a:1"}, "p2": {"b:1"}}
    assert assign_ids([["a:1", "b:1"]], old, trigger="a:1") == {0: "p2"}
    # two projects merge: the older keeps its id
    old = {"p1": {"a:1"}, "p2": {"b:1"}}
    assert assign_ids([["a:1", "b:1", "c:1"]], old, trigger="c:1", preference={"p1": (2,), "p2": (1,)}) == {0: "p2"}


def test_features_round_trip_and_stale_versions() -> None:
    from services.indexer.dedup.features import Features, StaleFeatures

    x = f("La Forge – Roubaix", contact=Contact(email="a@forge.fr"))
    assert Features.from_json(x.to_json()) == x
    old = {k: v for k, v in x.to_json().items() if k != "v"}
    with pytest.raises(StaleFeatures):
        Features.from_json(old)


def test_score_if_kept_decides_as_score_on_every_candidate_pair():
    """The shortcut for pairs neither matched nor kept (no description compared when it could not
    bring the weight to KEEP_WEIGHT) gives exactly ``score``'s kept pairs, on the labelled set's
    candidate pairs and as many random pairs."""
    import itertools
    import random
    from collections import defaultdict

    from services.indexer.dedup.scoring import KEEP_WEIGHT, score_if_kept
    from tests.data.dedup.evaluate import load, to_event

    feats = [features(e.project, e.location) for e in map(to_event, load())]
    blocks = defaultdict(list)
    for i, x in enumerate(feats):
        for b in block_keys(x):
            blocks[b].append(i)
    pairs = {p for members in blocks.values() for p in itertools.combinations(members, 2)}
    rng = random.Random(7)
    pairs |= {tuple(rng.sample(range(len(feats)), 2)) for _ in range(len(pairs))}
    kept = 0
    for i, j in sorted(pairs):
        full = score(feats[i], feats[j])
        want = full if full.matched or full.weight >= KEEP_WEIGHT else None
        assert score_if_kept(feats[i], feats[j]) == want
        kept += want is not None
    assert 0 < kept < len(pairs) / 2
