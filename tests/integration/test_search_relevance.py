"""Search relevance on the PostgreSQL backend: the relevance set's thresholds (recall@10 ≥ 97 % and
no zero-result answer, both splits: ``tests/data/search/``), typo corrections and "did you mean"
from the index's own words, and the search page's ways out of an empty answer."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from services.gateway.app import create_app
from services.gateway.search.postgres import PostgresSearch
from services.gateway.search.rules import parse_search
from services.gateway.settings import GatewaySettings
from services.indexer.adapters.search import PostgresIndexWriter
from tests.data.search.evaluate import evaluate, load_corpus
from tests.integration.test_search_conformance import PROJECTS, indexed_database

RECALL_AT_10 = 0.97


@pytest.mark.parametrize("cache_mb", [0, 64], ids=["sql", "in-memory"])
async def test_relevance_set_thresholds(engine, cache_mb):
    await load_corpus(engine)
    reader = PostgresSearch(engine, cache_mb=cache_mb)
    for split in ("dev", "test"):
        result = await evaluate(reader, split)
        assert result["n"] >= 300
        assert result["zero"] == 0, (split, result["zero"])
        assert result["recall"] >= RECALL_AT_10, (split, result["recall"], result["by_variation"])


async def test_did_you_mean_from_the_index_words(engine):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine)
    for project in PROJECTS:
        await writer.upsert(project, 1)
    vocabulary = {w for words in (await reader._vocabulary(None)).values() for w in words}
    assert {"jardin", "partage", "epeule", "ressourcerie", "mamoudzou"} <= vocabulary
    assert not any(w.isdigit() or len(w) < 3 for w in vocabulary)
    # one typo is corrected by the search itself (as Meilisearch's typo tolerance)
    assert [h["id"] for h in (await reader.search(parse_search(q="ressourcerei")))["hits"]] == ["ressourcerie-pevele"]
    # too far for a typo: nothing, and the closest word of the index that finds something
    result = await reader.search(parse_search(q="jardinxxqz"))
    assert result["total"] == 0 and result["did_you_mean"] == "jardin"
    assert "jardinxxqz" in result["ignored"]
    assert (await reader.search(parse_search(q="qqqqqqqqqq")))["did_you_mean"] is None


@pytest.fixture(scope="module")
async def client(stack):
    url, engine = await indexed_database(stack, "relevance")
    app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap))
    async with AsyncTestClient(app=app) as c:
        yield c
    await engine.dispose()


async def test_api_says_which_words_weighed_nothing(client):
    body = (await client.get("/api/v1/search", params={"q": "velo zzqxwv"})).json()
    assert [h["id"] for h in body["hits"]] == ["velo-lille"]
    assert body["ignored"] == ["zzqxwv"] and body["did_you_mean"] is None


async def test_page_offers_to_widen_an_empty_search(client):
    # vélo is in Lille: nothing within 1 km (nor 2 km) of Paris
    page = (await client.get("/", params={"q": "velo", "lat": "48.8566", "lon": "2.3522", "radius_km": "1"})).text
    assert "0 projet" in page and "Élargir la recherche" in page
    assert "sans limite de distance" in page and "dans un rayon de 2 km" not in page
    assert 'class="chip"' in page  # the active filters stay on the page, each removable
    # vélo, but not at the "idee" stage
    page = (await client.get("/", params={"q": "velo", "stage": "idee"})).text
    assert "sans le filtre Étape" in page and "(1 projet)" in page
    page = (await client.get("/", params={"q": "jardinxxqz"})).text
    assert "Vouliez-vous dire" in page and "q=jardin" in page
    assert "« jardinxxqz »" in page


@pytest.mark.parametrize("cache_mb", [0, 8], ids=["sql", "in-memory"])
async def test_a_new_word_is_found_right_after_its_write(engine, cache_mb):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=cache_mb)
    await writer.upsert(PROJECTS[0], 1)
    assert (await reader.search(parse_search(q="zero dechet")))["total"] == 1
    assert (await reader.search(parse_search(q="ressourcerie")))["total"] == 0  # not there yet: counted 0
    await writer.upsert(PROJECTS[7], 1)  # "Ressourcerie du Pévèle"
    result = await reader.search(parse_search(q="ressourcerie"))
    assert [h["id"] for h in result["hits"]] == ["ressourcerie-pevele"]
