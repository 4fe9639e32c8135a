"""The in-memory search (candidate sets, ``candidates.py``) gives exactly the SQL search's answers.

Both readers run on the same real PostgreSQL index of generated projects (communes from the
gazetteer, several partners, unlocated and undated projects among them) for a few hundred random
searches mixing words (typos and prefixes included), facets, radius, bbox, the three sorts and
pages: totals, hits in order, distances, facet counts and labels must be equal.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from benchmarks.bench_search import CITIES, ENGINEERING, HOLDERS, KEYWORDS, STAGES, THEMES, projects
from benchmarks.generate import SOURCES
from libs.contracts.events import Location
from services.gateway.search.postgres import TOO_BIG, PostgresSearch
from services.gateway.search.relevance import Plan
from services.gateway.search.rules import parse_search
from services.indexer.adapters.search import PostgresIndexWriter

WORDS = [*KEYWORDS, "jardn partage", "epiceri", "ressourcerei", "velo", "lien social", "graine", "tiers", "", "",
         "", "atelier", "habitants", "zzzz", "projet de jardin pour etudiants a lyon", "epicerie sociale",
         "tiers lieu ess", "garage velo solidaire", "ressourcerie qwxz"]
THEME_SLUGS = sorted({t for ts in THEMES.values() for t in ts})


ABROAD = [("BE", "Brussels", 50.8503, 4.3517), ("CH", "Geneva", 46.2022, 6.1457), ("CA", "Montreal", 45.5088, -73.5878),
          ("BE", "Liege", 50.6337, 5.5675)]


def _corpus(n: int) -> list:
    out = []
    for i, p in enumerate(projects(n, seed=3)):
        if i % 13 == 0:  # abroad, as the geocoder places a city abroad: a country, a locality, no French place
            country, city, lat, lon = ABROAD[(i // 13) % len(ABROAD)]
            p = p.model_copy(update={"location": Location(country=country, locality=city, lat=lat, lon=lon,
                                                          precision="commune", method="abroad-city")})
        elif i % 17 == 0:  # unlocated: no coordinates (sorted last by nearest, outside every radius)
            p = p.model_copy(update={"location": Location(departement_code=p.location.departement_code,
                                                          region_code=p.location.region_code)})
        if i % 29 == 0:  # same first seen as its neighbour: ties broken by id
            p = p.model_copy(update={"first_seen": out[-1].first_seen if out else p.first_seen})
        out.append(p)
    return out


def _random_query(rng: random.Random) -> dict:
    params: dict = {"q": rng.choice(WORDS), "filters": {}}
    if rng.random() < 0.6:
        params["filters"]["theme"] = rng.sample(THEME_SLUGS, k=rng.randint(1, 2))
    if rng.random() < 0.5:
        params["filters"]["stage"] = rng.sample(STAGES, k=rng.randint(1, 2))
    if rng.random() < 0.4:
        params["filters"]["source"] = rng.sample(SOURCES, k=rng.randint(1, 3))
    if rng.random() < 0.2:
        params["filters"]["holder_type"] = [rng.choice(HOLDERS)]
    if rng.random() < 0.2:
        params["filters"]["engineering"] = [rng.choice(ENGINEERING)]
    if rng.random() < 0.15:
        params["filters"]["region"] = rng.sample(["11", "84", "93", "32", "76", "44"], k=rng.randint(1, 2))
    if rng.random() < 0.2:
        params["filters"]["country"] = rng.sample(["FR", "BE", "CH", "CA", "DE"], k=rng.randint(1, 2))
    if rng.random() < 0.1:
        params["filters"]["departement"] = rng.sample(["75", "69", "13", "59", "31", "33"], k=2)
    geo = rng.random()
    if geo < 0.4:
        lat, lon = rng.choice(CITIES)
        params.update(lat=lat, lon=lon, radius_km=rng.choice([5, 30, 80, 300]))
    elif geo < 0.55:
        lat, lon = rng.choice(CITIES)
        params.update(lat=lat, lon=lon)
    elif geo < 0.7:
        params["bbox"] = rng.choice(["-5.2,41.3,9.6,51.1", "2.0,48.5,2.8,49.1", "4.5,45.5,5.2,46.0"])
    sorts = ["relevance", "newest"] + (["nearest"] if "lat" in params else [])
    params["sort"] = rng.choice(sorts) if params["q"] or rng.random() < 0.5 else None
    params["page"], params["per_page"] = rng.choice([(1, 20), (2, 20), (1, 7), (3, 5), (1, 50)])
    return params


@pytest.fixture
async def readers(engine):
    writer = PostgresIndexWriter(engine)
    await writer.upsert_many([(p, 1) for p in _corpus(700)])
    async with engine.begin() as conn:  # the column allows an unknown first seen: newest puts those first
        await conn.execute(text("UPDATE search_documents SET first_seen = NULL WHERE id LIKE '%3'"))
    return PostgresSearch(engine, cache_mb=0), PostgresSearch(engine, cache_mb=16)


def _rounded(result: dict) -> dict:
    # the two haversines (PostgreSQL's libm, NumPy's) may differ in the last bit: compare to the metre
    for hit in result["hits"]:
        if "distance_km" in hit:
            hit["distance_km"] = round(hit["distance_km"], 3)
    return result


def _difference(got, expected):
    if isinstance(got, dict):
        return {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected) if got.get(k) != expected.get(k)}
    if isinstance(got, list):
        return [(i, a, b) for i, (a, b) in enumerate(zip(got, expected)) if a != b][:3] or (len(got), len(expected))
    return got, expected


async def test_random_searches_give_the_sql_answers(readers):
    sql, memory = readers
    rng = random.Random(20261126)
    for n in range(300):
        params = _random_query(rng)
        query = parse_search(**params)
        expected, got = await sql.search(query), await memory.search(query)
        got, expected = _rounded(got), _rounded(expected)
        for part in ("total", "hits", "facets", "labels"):
            assert got[part] == expected[part], (n, params, part, {k: _difference(got[part][k], expected[part][k]) for k in got[part]} if part == "labels" else _difference(got[part], expected[part]))
    assert memory.candidates.hits > 250  # the in-memory path answered (one candidate set per words)
    assert {"FR", "BE", "CH", "CA"} <= set((await sql.search(parse_search()))["facets"]["country"])
    assert memory.candidates.misses <= len(set(WORDS)) + 2


async def test_random_map_clusters_give_the_sql_clusters(readers):
    sql, memory = readers
    rng = random.Random(7)
    for n in range(120):
        params = _random_query(rng)
        params.pop("sort"), params.pop("page"), params.pop("per_page")
        query, cell = parse_search(**params), rng.choice([0.05, 0.5, 2.0, 8.0])
        expected, got = await sql.clusters(query, cell), await memory.clusters(query, cell)
        assert len(got) == len(expected), (n, params, cell)
        for a, b in zip(got, expected):
            # means summed in another order may differ in the last bits
            assert a["lat"] == pytest.approx(b["lat"], abs=1e-9) and a["lon"] == pytest.approx(b["lon"], abs=1e-9)
            assert {**a, "lat": 0, "lon": 0} == {**b, "lat": 0, "lon": 0}, (n, params, cell)
    assert memory.candidates.hits > 90  # answered in memory


async def test_a_candidate_set_too_big_for_its_share_falls_back_to_sql(readers):
    sql, _ = readers
    small = PostgresSearch(sql.engine, cache_mb=0.1)  # candidate sets up to ~30 kB: ~150 rows
    query = parse_search(filters={"theme": ["alimentation"]}, per_page=5)
    assert await small.search(query) == await sql.search(query)
    key = (Plan().signature, query.salt)
    assert small.candidates.get(key, small.generation.value) == TOO_BIG
    narrow = parse_search(q="zzzz")  # no match: an empty candidate set fits
    assert await small.search(narrow) == await sql.search(narrow)
