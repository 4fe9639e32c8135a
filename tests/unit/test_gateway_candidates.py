"""The in-memory search over a candidate set (pure: no database). Its agreement with the SQL search
is checked on a real index in tests/integration/test_search_candidates.py; these pin the rules."""

from __future__ import annotations

import math

import numpy as np

from services.gateway.search.candidates import COLUMNS, Candidates, haversine
from services.gateway.search.rules import parse_search

INF, NAN = math.inf, math.nan
LILLE, ROUBAIX, PARIS = (50.6292, 3.0573), (50.6942, 3.1746), (48.8566, 2.3522)


def row(id, first_seen=1000.0, r=0.0, at=(NAN, NAN), theme=(), engineering=(), source=("avise",), stage=None,
        holder_type=None, region=None, departement=None, commune=None, region_name=None,
        departement_name=None, commune_name=None, country=None, country_name=None, h=None):
    values = dict(h=h if h is not None else sum(map(ord, id)) * 7919 % 1000,id=id, first_seen=first_seen, r=r, lat=at[0], lon=at[1], theme=list(theme),
                  engineering=list(engineering), source=list(source), stage=stage, holder_type=holder_type,
                  region=region, departement=departement, commune=commune, region_name=region_name,
                  departement_name=departement_name, commune_name=commune_name, country=country,
                  country_name=country_name)
    return tuple(values[c] for c in COLUMNS)


ROWS = [  # in id order, as the adapter reads them
    row("a", 3000.0, 0.5, LILLE, ("alimentation",), stage="idee", region="32", region_name="Hauts-de-France",
        commune="59350", commune_name="Lille"),
    row("b", 2000.0, 0.9, ROUBAIX, ("alimentation", "mobilite"), stage="idee", region="32",
        region_name="Hauts-de-France", commune="59512", commune_name="Roubaix"),
    row("c", INF, 0.5, PARIS, ("mobilite",), source=("cerdd",), stage="essaimage", region="11",
        region_name="Île-de-France", commune="75056", commune_name="Paris"),
    row("d", 3000.0, 0.5, theme=("mobilite",), stage="essaimage", region="32"),  # unlocated, no label
]
C = Candidates(ROWS)


def search(**params):
    return C.answer(parse_search(**params), facet_limit=200)


def ids(answer):
    return [C.ids[i] for i in answer.page]


def test_or_within_a_facet_and_across_facets():
    assert search(filters={"theme": ["alimentation", "mobilite"]}).total == 4
    assert ids(search(filters={"theme": ["mobilite"], "stage": ["idee"]}, sort="newest")) == ["b"]


def test_disjunctive_facet_counts():
    answer = search(filters={"theme": ["alimentation"], "stage": ["essaimage"]})
    assert answer.total == 0
    # stage is counted with the theme filter only, theme with the stage filter only
    assert answer.facets["stage"] == {"idee": 2}
    assert answer.facets["theme"] == {"mobilite": 2}
    assert answer.facets["source"] == {}


def test_counts_most_first_then_by_value_and_labels_of_counted_rows():
    answer = search()
    assert list(answer.facets["theme"].items()) == [("mobilite", 3), ("alimentation", 2)]
    assert list(answer.facets["stage"].items()) == [("essaimage", 2), ("idee", 2)]
    assert answer.facets["region"] == {"32": 3, "11": 1}
    assert answer.labels["region"] == {"32": "Hauts-de-France", "11": "Île-de-France"}
    only_d = search(filters={"stage": ["essaimage"], "region": ["32"]})
    # regions are counted over c and d (the stage filter only); d has no label, and a and b,
    # which have one for 32, are not counted
    assert ids(only_d) == ["d"] and only_d.facets["region"] == {"11": 1, "32": 1}
    assert only_d.labels["region"] == {"11": "Île-de-France"}


def test_newest_puts_unknown_first_then_by_id():
    assert ids(search(sort="newest")) == ["c", "a", "d", "b"]


def test_relevance_buckets_then_fair_spread_then_shuffle():
    ordered = Candidates([row("w", 5.0, 0.21, h=3), row("x", 1.0, 0.29, h=1), row("y", 5.0, 0.2, h=2),
                          row("z", 5.0, 0.7, h=9)])
    answer = ordered.answer(parse_search(q="anything", sort="relevance"), 200)
    # z is a step above; w, x and y are equally relevant (same tenth of a tier): shuffle order
    assert [ordered.ids[i] for i in answer.page] == ["z", "x", "y", "w"]
    # a bigger source does not come first: avise has 4 of 6 equally relevant hits, cerdd 2
    rows = [row(f"a{i}", h=i) for i in range(4)] + [row(f"c{i}", source=("cerdd",), h=i) for i in range(2)]
    spread = Candidates(sorted(rows))
    order = [spread.ids[i] for i in spread.answer(parse_search(), 200).page]
    # avise at (j + .5) / 4 = .125 .375 .625 .875, cerdd at .25 .75
    assert order == ["a0", "c0", "a1", "a2", "c1", "a3"]


def test_newest_and_nearest_keep_the_words_matched_first():
    ordered = Candidates([row("w", 5.0, 1.2), row("x", 9.0, 0.3), row("y", 1.0, 1.1)])
    answer = ordered.answer(parse_search(q="two words", sort="newest"), 200)
    assert [ordered.ids[i] for i in answer.page] == ["w", "y", "x"]


def test_radius_nearest_and_distances():
    answer = search(lat=LILLE[0], lon=LILLE[1], radius_km=20, sort="nearest")
    assert ids(answer) == ["a", "b"]
    assert answer.distances[0] == 0.0 and 9 < answer.distances[1] < 11
    everywhere = search(lat=LILLE[0], lon=LILLE[1], sort="nearest")
    assert ids(everywhere) == ["a", "b", "c", "d"] and everywhere.distances[-1] is None  # unlocated last


def test_bbox_and_pagination():
    assert ids(search(bbox="2.0,48.0,4.0,51.0", sort="newest")) == ["c", "a", "b"]
    assert ids(search(sort="newest", page=2, per_page=3)) == ["b"] and search(page=2, per_page=3).total == 4


def test_haversine_matches_a_known_distance():
    lille_paris = haversine(np.array([LILLE[0]]), np.array([LILLE[1]]), *PARIS)[0]
    assert 203 < lille_paris < 205


def test_clusters_per_cell_biggest_first():
    clusters = C.clusters(parse_search(), 1.0)
    assert [(c["count"], C.ids[c["pos"]]) for c in clusters] == [(2, "a"), (1, "c")]
    assert clusters[0]["commune_name"] == "Lille"  # the smallest name in the cell
    assert math.isclose(clusters[0]["lat"], (LILLE[0] + ROUBAIX[0]) / 2)
    assert C.clusters(parse_search(filters={"source": ["cerdd"]}), 0.1)[0]["count"] == 1


def test_empty_candidate_set():
    empty = Candidates([])
    answer = empty.answer(parse_search(q="x", filters={"theme": ["mobilite"]}, lat=1, lon=1, radius_km=5), 200)
    assert answer.total == 0 and answer.page == [] and answer.facets["theme"] == {}
    assert empty.clusters(parse_search(), 1.0) == []
