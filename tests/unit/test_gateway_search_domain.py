"""Unit tests for the gateway's pure search helpers: highlighting, map clustering, export rows."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.search.rules import (
    MAX_CELLS,
    BBox,
    QueryError,
    cluster_cell,
    csv_cell,
    export_row,
    geojson_clusters,
    grid_clusters,
    highlight,
    parse_zoom,
    suggest_terms,
)

# --------------------------------------------------------------------------- highlight


def test_highlight_marks_words_accent_insensitively_and_by_prefix():
    out = highlight("Épicerie solidaire", "Une épicerie solidaire à prix réduits.", ["epicerie", "solid"])
    assert out["title"] == "<mark>Épicerie</mark> <mark>solidaire</mark>"
    assert out["snippet"] == "Une <mark>épicerie</mark> <mark>solidaire</mark> à prix réduits."


def test_highlight_escapes_everything_else():
    out = highlight('<img src=x onerror="alert(1)"> Jardin', "a & b <b>jardin</b>", ["jardin"])
    assert "<img" not in out["title"] and "&lt;img" in out["title"]
    assert out["title"].endswith("<mark>Jardin</mark>")
    assert out["snippet"] == "a &amp; b &lt;b&gt;<mark>jardin</mark>&lt;/b&gt;"


def test_snippet_is_a_window_around_the_first_match():
    body = " ".join(f"mot{i}" for i in range(100)) + " cible " + " ".join(f"fin{i}" for i in range(100))
    out = highlight("Titre", body, ["cible"], words=12)
    assert "<mark>cible</mark>" in out["snippet"]
    assert out["snippet"].startswith("… ") and out["snippet"].endswith(" …")
    assert len(out["snippet"].split()) <= 12 + 3  # 12 words, the ellipses and the mark tags stay within


def test_snippet_without_match_is_the_beginning():
    body = " ".join(f"mot{i}" for i in range(100))
    out = highlight("Titre", body, ["absent"], words=5)
    assert out["snippet"] == "mot0 mot1 mot2 mot3 mot4 …"
    assert highlight("Titre", "", ["x"])["snippet"] == ""
    assert highlight("Titre", "court", [])["snippet"] == "court"


def test_single_letters_are_not_marked_inside_words():
    out = highlight("Atelier vélo", "", ["a"])
    assert "<mark>" not in out["title"]


@given(st.text(max_size=200), st.text(max_size=300), st.lists(st.text(min_size=1, max_size=8), max_size=4))
def test_highlight_never_lets_markup_through(title, body, tokens):
    out = highlight(title, body, tokens)
    for html in out.values():
        stripped = html.replace("<mark>", "").replace("</mark>", "")
        assert "<" not in stripped and ">" not in stripped


# --------------------------------------------------------------------------- map


def test_parse_zoom():
    assert parse_zoom("7") == 7 and parse_zoom(0) == 0
    for bad in (None, "", "x", "-1", "21", "3.5"):
        with pytest.raises(QueryError, match="zoom"):
            parse_zoom(bad)


def test_cluster_cell_shrinks_with_zoom_and_is_bounded_by_the_bbox():
    assert cluster_cell(5) == pytest.approx(2 * cluster_cell(6))
    world = BBox(-180, -90, 180, 90)
    cell = cluster_cell(20, world)
    assert (360 / cell) * (180 / cell) <= MAX_CELLS * 1.0001
    small = BBox(2.3, 48.8, 2.4, 48.9)
    assert cluster_cell(12, small) == cluster_cell(12)


def test_grid_clusters():
    points = [
        {"id": "b", "title": "B", "commune_name": "Lille", "lat": 50.60, "lon": 3.05},
        {"id": "a", "title": "A", "commune_name": "Lille", "lat": 50.62, "lon": 3.07},
        {"id": "c", "title": "C", "commune_name": "Lyon", "lat": 45.76, "lon": 4.83},
        {"id": "d", "title": "D", "lat": None, "lon": None},
    ]
    clusters = grid_clusters(points, 1.0)
    assert clusters == [
        {"count": 2, "lat": pytest.approx(50.61), "lon": pytest.approx(3.06)},
        {"count": 1, "lat": 45.76, "lon": 4.83, "id": "c", "title": "C", "commune_name": "Lyon"},
    ]
    assert len(grid_clusters(points, 0.001)) == 3


@given(st.lists(st.tuples(st.floats(-60, 60), st.floats(-170, 170)), max_size=60), st.sampled_from([0.01, 0.5, 7.0]))
def test_grid_clusters_keep_every_point(coords, cell):
    points = [{"id": f"p{i}", "lat": la, "lon": lo} for i, (la, lo) in enumerate(coords)]
    clusters = grid_clusters(points, cell)
    assert sum(c["count"] for c in clusters) == len(points)
    for c in clusters:
        assert math.isfinite(c["lat"]) and math.isfinite(c["lon"])


def test_geojson_clusters():
    geo = geojson_clusters([{"count": 3, "lat": 1.0, "lon": 2.0},
                            {"count": 1, "lat": 3.0, "lon": 4.0, "id": "x", "title": "X", "commune_name": None}])
    assert geo["type"] == "FeatureCollection"
    first, second = geo["features"]
    assert first["geometry"] == {"type": "Point", "coordinates": [2.0, 1.0]}
    assert first["properties"] == {"count": 3, "cluster": True}
    assert second["properties"]["url"] == "/projets/x" and second["properties"]["cluster"] is False


# --------------------------------------------------------------------------- export


def test_export_row_carries_licence_and_attribution_per_source():
    doc = {"id": "p1", "title": "T", "theme": ["alimentation"], "source": ["avise", "inconnu"],
           "sources": [{"partner": "avise", "url": "https://avise.example/1"},
                       {"partner": "inconnu", "url": "https://x.example/1"}]}
    partners = {"avise": {"name": "Avise", "licence": "CC BY-SA 4.0"}}
    row = export_row(doc, partners, "https://carrefour.example")
    assert row["sources"] == ["avise", "inconnu"]
    assert row["licences"] == ["CC BY-SA 4.0", "licence non précisée"]
    assert row["attribution"] == "Avise (CC BY-SA 4.0); inconnu (licence non précisée)"
    assert row["source_urls"] == ["https://avise.example/1", "https://x.example/1"]
    assert row["page"] == "https://carrefour.example/projets/p1"
    assert row["themes"] == ["alimentation"]


def test_csv_cell_defuses_formulas():
    assert csv_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert csv_cell("@SUM(1)") == "'@SUM(1)" and csv_cell("+33 1 23") == "'+33 1 23"
    assert csv_cell("-12.5") == "-12.5" and csv_cell(-3.2) == "-3.2"
    assert csv_cell(["a", None, "b"]) == "a | b" and csv_cell(None) == ""


def test_suggest_terms():
    assert suggest_terms("alim") == [{"facet": "theme", "value": "alimentation", "label": "Alimentation"}]
    assert any(t["value"] == "emploi-insertion" for t in suggest_terms("insert"))
    assert suggest_terms("") == [] and suggest_terms("zzzz") == []


# --------------------------------------------------------------------------- search result cache


def test_cache_key_normalises_what_does_not_change_the_result():
    from services.gateway.search.rules import parse_search

    a = parse_search(q="Jardin  Partagé", filters={"theme": ["alimentation", "culture"], "source": ["avise"]})
    b = parse_search(q="jardin partage", filters={"source": ["avise"], "theme": ["culture", "alimentation"]})
    assert a.cache_key() == b.cache_key()
    assert hash(a.cache_key()) == hash(b.cache_key())
    assert parse_search(q="partage jardin").cache_key() != parse_search(q="jardin partage").cache_key()  # prefix: last
    assert parse_search(q="jardin", page=2).cache_key() != parse_search(q="jardin").cache_key()
    assert parse_search(q="jardin", lat=45, lon=4, radius_km=30).cache_key() != \
        parse_search(q="jardin", lat=45, lon=4, radius_km=31).cache_key()
    assert parse_search(q="jardin", sort="newest").cache_key() != parse_search(q="jardin").cache_key()


def test_result_cache_is_an_lru_bounded_in_bytes_for_one_generation():
    from services.gateway.search.cache import ResultCache

    cache = ResultCache(max_bytes=800)
    for i in range(10):
        cache.put(i, 1, bytes(100))
    assert len(cache) == 8 and cache.bytes == 800
    assert cache.get(0, 1) is None and cache.get(2, 1) is not None  # 0, 1 evicted
    cache.put(10, 1, bytes(100))
    assert cache.get(2, 1) is not None and cache.get(3, 1) is None  # 2 was used recently: 3 went
    cache.put(99, 1, bytes(101))  # over an eighth of the budget: not kept
    assert cache.get(99, 1) is None

    assert cache.get(2, 2) is None and len(cache) == 0, "a newer generation drops everything"
    cache.put(5, 1, b"old")  # computed under the previous generation: not kept
    assert cache.get(5, 2) is None and cache.get(5, 1) is None
    cache.put(5, 2, b"new")
    assert cache.get(5, 2) == b"new"


async def test_index_generation_reads_are_batched_and_never_older_than_the_request():
    import asyncio
    import time

    from services.gateway.search.cache import IndexGeneration

    started: list[float] = []

    async def read() -> int:
        started.append(time.monotonic())
        await asyncio.sleep(0.01)
        return len(started)

    gen = IndexGeneration(read, max_stale_s=0)

    async def request() -> tuple[float, int]:
        arrived = time.monotonic()
        return arrived, await gen.current()

    results = []
    for _ in range(5):
        results += await asyncio.gather(*(request() for _ in range(30)), *(asyncio.sleep(0.004 * k) for k in range(3)))
    answers = [r for r in results if r is not None]
    assert len(answers) == 150
    for arrived, value in answers:
        assert started[value - 1] >= arrived, "a request got a generation read that started before it arrived"
    assert len(started) <= 10, "concurrent requests share reads"

    relaxed = IndexGeneration(read, max_stale_s=60)
    n = len(started)
    assert await relaxed.current() == await relaxed.current() == n + 1, "within the allowance: one read"
