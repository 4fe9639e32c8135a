"""« Projects like this one, elsewhere »: the pure rules (words, overlap, territories, the pick)."""

from __future__ import annotations

from services.gateway.search.similar import elsewhere_of, pick_elsewhere, significant_words, theme_overlap

ROUBAIX = {"id": "r", "title": "Jardin partagé du quartier de l'Épeule", "summary": "Des parcelles cultivées.",
           "theme": ["alimentation"], "departement": "59", "lat": 50.69, "lon": 3.17, "source": ["alpha"],
           "project": {"sources": [{"partner": "alpha", "record_id": "r-1", "url": "https://a.example/r"}]}}


def hit(pid, partners=("beta",), dep="75", lat=48.85, lon=2.35, record=None, url=None):
    return {"id": pid, "source": list(partners), "departement": dep, "lat": lat, "lon": lon,
            "sources": [{"partner": partners[0], "record_id": record or f"{pid}-1", "url": url or f"https://x/{pid}"}]}


def test_significant_words_fold_and_leave_out_stop_words():
    assert significant_words(ROUBAIX) == ["jardin", "partage", "quartier", "epeule", "parcelles", "cultivees"]
    assert significant_words({"title": "Le 2024 de la vie", "summary": ""}) == ["vie"]
    assert len(significant_words({"title": " ".join(f"mot{i}x" for i in range(40))})) == 12


def test_theme_overlap_is_jaccard():
    assert theme_overlap(["a", "b"], ["b", "c"]) == 1 / 3
    assert theme_overlap([], ["a"]) == 0.0 and theme_overlap(["a"], ["a"]) == 1.0


def test_territories():
    assert not elsewhere_of(ROUBAIX, hit("x", dep="59", lat=50.0, lon=2.0))  # same département
    assert not elsewhere_of(ROUBAIX, hit("x", dep="62", lat=50.63, lon=3.06))  # 12 km away, next door
    assert elsewhere_of(ROUBAIX, hit("x"))  # Paris
    assert elsewhere_of(ROUBAIX, hit("x", dep=None, lat=None, lon=None))  # not located, no département
    abroad = {"id": "b", "country": "BE", "locality": "Brussels"}
    assert not elsewhere_of(abroad, {"id": "c", "country": "BE", "locality": "Brussels"})
    assert elsewhere_of(abroad, {"id": "c", "country": "BE", "locality": "Liège"})


def test_pick_skips_itself_its_cluster_nearby_and_taken_partners():
    candidates = [
        hit("r"),                                              # itself
        hit("copy", record="r-1", partners=("alpha",)),        # a record of its cluster
        hit("same-page", url="https://a.example/r"),           # the same page
        hit("near", dep="59", lat=50.63, lon=3.06),            # nearby
        hit("p1", partners=("beta",)),
        hit("p2", partners=("beta", "gamma")),                 # beta taken
        hit("p3", partners=("gamma",)),
        hit("p4", partners=("delta",)),
        hit("p5", partners=("epsilon",)),
    ]
    assert [h["id"] for h in pick_elsewhere(ROUBAIX, candidates, 3)] == ["p1", "p3", "p4"]
    assert [h["id"] for h in pick_elsewhere(ROUBAIX, candidates, 10)] == ["p1", "p3", "p4", "p5"]
    assert pick_elsewhere(ROUBAIX, candidates, 0) == []
    assert all("sources" not in h for h in pick_elsewhere(ROUBAIX, candidates, 10))


def test_distinctive_words_are_the_rare_ones():
    from services.gateway.search.similar import RARE_SHARE, _pg_array, distinctive

    words = ["projet", "jardin", "epeule", "habitants", "parcelles"]
    shares = [RARE_SHARE + 0.001, RARE_SHARE, 0.0, 0.5, 0.004]  # « projet » one past the share; « jardin » at it
    assert distinctive(words, shares) == ["epeule", "parcelles", "jardin"]
    assert distinctive(["projet", "habitants", "ville"], [0.9, 0.5, 0.7]) == ["habitants", "ville"]
    assert distinctive(words, shares, keep=1) == ["epeule"]
    assert _pg_array('jardin,"a b",epicer') == ["jardin", "a b", "epicer"] and _pg_array("") == []
